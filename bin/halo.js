#!/usr/bin/env node
import '../dist/src/bin/halo.js';
