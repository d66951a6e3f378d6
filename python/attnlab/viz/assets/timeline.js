// attnlab timeline: one layer's heads at a training step, with a slider and a play button over
// the steps (opening at the last), the tokens on the axes and the weight under the pointer.
window.attnlabViews.timeline = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var levels = A.uint16(d.cells), per = d.rq * d.rk, heads = d.heads, layers = d.layers.length;
  var last = d.steps.length - 1;
  var state = { layer: d.layer, step: last, scale: d.scale, timer: null };
  var size = Math.max(80, Math.min(200, Math.floor(880 / heads)));

  var bar = A.el("div", "attnlab-bar", root);
  A.layerSelect(bar, d.layers, state.layer, function (layer) { state.layer = layer; update(); });
  var play = A.button(bar, "\u25b6 play", "play the steps from the first (again to pause)", start);
  function start() {
    if (state.timer) { stop(); return; }
    if (state.step === last) state.step = 0;
    update();
    play.textContent = "\u275a\u275a pause";
    root.dataset.playing = "true";
    state.timer = setInterval(function () {
      if (state.step >= last) { stop(); return; }
      state.step++;
      update();
    }, 500);
  }
  function stop() {
    clearInterval(state.timer);
    state.timer = null;
    play.textContent = "\u25b6 play";
    root.dataset.playing = "false";
  }
  var label = A.el("label", "attnlab-control", bar, "step ");
  var slider = A.el("input", "attnlab-slider", label);
  slider.type = "range";
  slider.min = "0";
  slider.max = String(last);
  slider.value = String(last);
  var stepText = A.el("span", "attnlab-steptext", bar);
  slider.addEventListener("input", function () {
    stop();
    state.step = Number(slider.value);
    update();
  });
  A.scaleSelect(bar, state.scale, function (scale) { state.scale = scale; update(); });
  A.exportButtons(bar, root, "attnlab-timeline", scene);
  A.notes(root, [d.title, d.batchNote, d.pooledNote]);
  var readout = A.el("div", "attnlab-readout", root, "\u00a0");

  var rowLabels = A.cellLabels(d.tokens, d.rq), colLabels = A.cellLabels(d.keyTokens, d.rk);
  var w = d.rk >= d.rq ? size : Math.round((size * d.rk) / d.rq);
  var h = d.rq >= d.rk ? size : Math.round((size * d.rq) / d.rk);
  var layouts = [];
  for (var head = 0; head < heads; head++) {
    layouts.push(A.heatmapLayout({ w: w, h: h, rowLabels: head === 0 ? rowLabels : null,
      colLabels: colLabels, title: true, bar: head === heads - 1 }));
  }
  var panels = A.el("div", "attnlab-panels", root);
  var canvases = layouts.map(function (L, head) {
    var canvas = A.canvas(panels, L.width, L.height, "attnlab-thumb attnlab-panel");
    canvas.addEventListener("mousemove", function (event) { hover(head, event); });
    canvas.addEventListener("mouseleave", function () {
      readout.textContent = "\u00a0";
      root.dataset.cell = "";
    });
    return canvas;
  });

  function offset(step, head) { return ((step * layers + state.layer) * heads + head) * per; }

  function paintPanel(p, head, x, y) {
    var L = layouts[head];
    A.paintHeatmap(p, { x: x + L.x, y: y + L.y, w: L.w, h: L.h }, {
      tile: A.tile(A.strengths(levels, offset(state.step, head), d.rq, d.rk, state.scale), 0,
        d.rq, d.rk, A.ink),
      rowLabels: head === 0 ? rowLabels : null, colLabels: colLabels, title: "head " + head,
      bar: head !== heads - 1 ? null
        : { top: state.scale === "absolute" ? d.top : 1, label: A.SCALES[state.scale] }
    });
  }

  function hover(head, event) {
    var cell = A.cellAt(canvases[head], layouts[head], d.rq, d.rk, event);
    if (!cell) { readout.textContent = "\u00a0"; root.dataset.cell = ""; return; }
    var weight = A.weight(levels[offset(state.step, head) + cell.row * d.rk + cell.col], d.top);
    readout.textContent = "step " + d.steps[state.step] + ", " + d.layers[state.layer] +
      ", head " + head + ": query " + A.cellTokens(d.tokens, cell.row, d.rq) + " \u2192 key " +
      A.cellTokens(d.keyTokens, cell.col, d.rk) + ": " +
      (per < d.lq * d.lk ? "largest weight " : "weight ") + weight.toFixed(4);
    root.dataset.cell = head + "," + cell.row + "," + cell.col;
  }

  function caption() {
    return d.layers[state.layer] + ", step " + d.steps[state.step] + " (" + (state.step + 1) +
      " of " + d.steps.length + ")";
  }

  function scene() {
    var width = 0, height = 0;
    layouts.forEach(function (L) { width += L.width + 8; height = Math.max(height, L.height); });
    return {
      width: width + 4, height: height + 40,
      paint: function (p) {
        p.text(4, 9, [d.title, d.batchNote].filter(Boolean).join(" \u2014 "),
          { size: 11, bold: true, width: width });
        p.text(4, 25, caption(), { size: 11, width: width });
        var x = 0;
        layouts.forEach(function (L, head) { paintPanel(p, head, x, 36); x += L.width + 8; });
      }
    };
  }

  function update() {
    slider.value = String(state.step);
    canvases.forEach(function (canvas, head) {
      var p = A.canvasPainter(canvas);
      p.clear("#fff");
      paintPanel(p, head, 0, 0);
    });
    stepText.textContent = caption();
    root.dataset.step = String(d.steps[state.step]);
    root.dataset.layer = String(state.layer);
    root.dataset.scale = state.scale;
  }
  root.dataset.playing = "false";
  update();
};
