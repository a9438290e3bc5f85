import { render } from 'preact';
import { Root } from './session.js';
import './style.css';

const root = document.getElementById('app');
if (root) render(<Root />, root);
