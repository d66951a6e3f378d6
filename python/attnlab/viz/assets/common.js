// attnlab views: helpers shared by head_view.js, model_view.js and timeline.js. Each view's
// script element inlines this file again, so it only (re)defines functions and holds no state.
window.attnlabViews = window.attnlabViews || {};
(function (A) {
  "use strict";

  // base64 -> bytes (a loop: Array.from with a callback is far slower on megabytes).
  A.bytes = function (text) {
    var binary = atob(text), out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  };

  // A new element; text goes in as textContent, never as markup.
  A.el = function (tag, className, parent, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  };

  A.headColour = function (head, heads) {
    return "hsl(" + Math.round((360 * head) / Math.max(heads, 1)) + ", 70%, 45%)";
  };

  // A canvas of width x height CSS pixels backed at the device pixel ratio (capped so that very
  // tall canvases stay within the browser's size limits).
  A.canvas = function (parent, width, height, className) {
    var canvas = A.el("canvas", className || "", parent);
    var ratio = Math.min(window.devicePixelRatio || 1, 16000 / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    var context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    canvas.cssWidth = width;
    canvas.cssHeight = height;
    return canvas;
  };

  // Draws rows x cols uint8 cells starting at cells[offset] over the whole canvas: white at 0,
  // deep blue at 255, one sharp block per cell.
  A.drawCells = function (canvas, cells, offset, rows, cols) {
    var image = new ImageData(cols, rows), px = image.data;
    for (var i = 0; i < rows * cols; i++) {
      var v = cells[offset + i] / 255;
      px[4 * i] = 255 - v * 247;
      px[4 * i + 1] = 255 - v * 207;
      px[4 * i + 2] = 255 - v * 148;
      px[4 * i + 3] = 255;
    }
    var tile = document.createElement("canvas");
    tile.width = cols;
    tile.height = rows;
    tile.getContext("2d").putImageData(image, 0, 0);
    var context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, canvas.cssWidth, canvas.cssHeight);
    context.drawImage(tile, 0, 0, canvas.cssWidth, canvas.cssHeight);
  };

  // A <select> of the layer names; calls onChange(layer index).
  A.layerSelect = function (parent, names, selected, onChange) {
    var label = A.el("label", "attnlab-control", parent, "layer ");
    var select = A.el("select", "attnlab-layer", label);
    names.forEach(function (name, i) {
      var option = A.el("option", "", select, name);
      option.value = String(i);
    });
    select.value = String(selected);
    select.addEventListener("change", function () { onChange(Number(select.value)); });
    return select;
  };

  // The token (or token range, for pooled cells) that a cell of a pooled axis covers.
  A.cellTokens = function (tokens, cell, cells) {
    var first = Math.floor((cell * tokens.length) / cells);
    var last = Math.floor(((cell + 1) * tokens.length) / cells) - 1;
    return last <= first ? tokens[first] : tokens[first] + " \u2026 " + tokens[last];
  };
})(window.attnlabViews);
