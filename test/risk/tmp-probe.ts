import { PortfolioOptimizer } from '../../src/risk/index.js';
import { randomCovariance } from './helpers.js';

const o = await PortfolioOptimizer.create();
const cov = randomCovariance(6, 7);
console.log(JSON.stringify(cov));
console.log(
  o.targetWeights('min-variance', { symbols: ['a', 'b', 'c', 'd', 'e', 'f'], covariance: cov }, { maxWeight: 0.3 })
    .weights,
);
