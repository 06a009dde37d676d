import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { startTheme } from './lib/theme';

// Before the first paint, so a dark choice never flashes light.
startTheme();

const target = document.getElementById('app');
if (!target) {
  throw new Error('Ventana: #app mount point missing from index.html');
}

export default mount(App, { target });
