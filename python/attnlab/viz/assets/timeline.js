// attnlab timeline: one layer's heads at a training step, with a slider over the steps.
window.attnlabViews.timeline = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var cells = A.bytes(d.cells), per = d.rq * d.rk, heads = d.heads, layers = d.layers.length;
  var state = { layer: d.layer, step: 0 };
  var size = Math.max(80, Math.min(200, Math.floor(880 / heads)));

  var bar = A.el("div", "attnlab-bar", root);
  A.layerSelect(bar, d.layers, state.layer, function (layer) { state.layer = layer; update(); });
  var label = A.el("label", "attnlab-control", bar, "step ");
  var slider = A.el("input", "attnlab-slider", label);
  slider.type = "range";
  slider.min = "0";
  slider.max = String(d.steps.length - 1);
  slider.value = "0";
  var stepText = A.el("span", "attnlab-readout", bar);
  slider.addEventListener("input", function () { state.step = Number(slider.value); update(); });

  var grid = A.el("div", "attnlab-grid", root);
  grid.style.gridTemplateColumns = "repeat(" + heads + ", " + size + "px)";
  var canvases = [];
  for (var h = 0; h < heads; h++) {
    var cell = A.el("div", "", grid);
    A.el("div", "attnlab-caption", cell, "head " + h);
    canvases.push(A.canvas(cell, size, size, "attnlab-thumb"));
  }

  function update() {
    var base = (state.step * layers + state.layer) * heads;
    canvases.forEach(function (canvas, h) { A.drawCells(canvas, cells, (base + h) * per, d.rq, d.rk); });
    stepText.textContent = "step " + d.steps[state.step] + " (" + (state.step + 1) + " of " + d.steps.length + ")";
    root.dataset.step = String(d.steps[state.step]);
    root.dataset.layer = String(state.layer);
  }
  update();
};
