export { NODE_VARS as NODE_VAR_NAMES, substituteNodeVars, type NodeVars } from '../domain/node-vars.js';
