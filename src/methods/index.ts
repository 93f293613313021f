/**
 * The built-in methods, registered with the run engine (`runMethod`, `getMethod`). The Node
 * entry adds DCQ (worker threads) and DQ's figures.
 */
import { registerMethod } from '../run/method.js';
import { alqMethod } from './alq/method.js';
import { bitatMethod } from './bitat/method.js';
import { dorefaMethod } from './dorefa/index.js';
import { dqMethod } from './dq/method.js';
import { floatMethod } from './float/index.js';
import { pqMethod } from './pq/index.js';
import { ptqMethod } from './ptq/index.js';
import { sqMethod } from './sq/method.js';
import { rqMethod, rqStMethod, srqMethod, steMethod } from './srq/method.js';

export { alqMethod, bitatMethod, dorefaMethod, dqMethod, floatMethod, pqMethod, ptqMethod, rqMethod, rqStMethod, sqMethod, srqMethod, steMethod };

registerMethod(floatMethod);
registerMethod(dorefaMethod);
registerMethod(steMethod);
registerMethod(rqMethod);
registerMethod(rqStMethod);
registerMethod(srqMethod);
registerMethod(bitatMethod);
registerMethod(dqMethod);
registerMethod(ptqMethod);
registerMethod(sqMethod);
registerMethod(alqMethod);
registerMethod(pqMethod);
