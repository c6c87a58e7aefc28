'use strict';
// global-agent is required by exactly one file of this repository's dependency tree:
// onnxruntime-node's install script (script/install.js), which calls bootstrap() to honour proxy
// settings and then, on Linux x64, downloads the CUDA execution provider from NuGet — outside the
// npm registry. npm 11 skips that script through package.json "allowScripts"; npm 10 runs it.
// This stand-in's bootstrap() sets the switch the script documents (ONNXRUNTIME_NODE_INSTALL=skip)
// unless the caller chose a value, so a plain `npm ci` never downloads from NuGet on either npm.
exports.bootstrap = function bootstrap() {
  if (!process.env.ONNXRUNTIME_NODE_INSTALL && !process.env.npm_config_onnxruntime_node_install) {
    process.env.ONNXRUNTIME_NODE_INSTALL = 'skip';
  }
};
