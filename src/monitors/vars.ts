export { NODE_VARS, substituteNodeVars as substituteVars } from '../domain/node-vars.js';
