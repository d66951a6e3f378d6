// attnlab head_view: query tokens (left) joined to key tokens (right) by lines as strong as
// the attention, one colour per head. Hovering a token shows only its lines.
window.attnlabViews.head_view = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var raw = A.bytes(d.keys);
  var keys = d.keyBytes === 2 ? new Uint16Array(raw.buffer) : new Uint32Array(raw.buffer);
  var weights = A.bytes(d.weights);
  var rowMax = new Float32Array(A.bytes(d.rowMax).buffer);
  var k = d.k, heads = d.heads, lq = d.lq, lk = d.lk;
  var state = { layer: d.layer, shown: d.shown.slice(), focus: null };

  var bar = A.el("div", "attnlab-bar", root);
  A.layerSelect(bar, d.layers, state.layer, function (layer) { state.layer = layer; update(); });
  var buttons = [];
  for (var h = 0; h < heads; h++) {
    var button = A.el("button", "attnlab-head", bar, String(h));
    button.type = "button";
    button.title = "head " + h + " (click to show or hide)";
    button.style.setProperty("--attnlab-head", A.headColour(h, heads));
    button.addEventListener("click", toggle.bind(null, h));
    buttons.push(button);
  }
  var readout = A.el("span", "attnlab-readout", bar);

  // Rows 20 px apart up to 150 tokens, then squeezed into 3000 px; labels thinned to fit.
  var rows = Math.max(lq, lk);
  var height = rows * Math.min(20, 3000 / rows);
  var width = 220, stepQ = height / lq, stepK = height / lk;
  var body = A.el("div", "attnlab-body", root);
  var left = column(d.tokens, stepQ, "attnlab-queries");
  var canvas = A.canvas(body, width, height, "attnlab-lines");
  var right = column(d.keyTokens, stepK, "attnlab-keys");
  var context = canvas.getContext("2d");

  function column(tokens, step, className) {
    var col = A.el("div", "attnlab-tokens " + className, body);
    col.style.height = height + "px";
    var stride = Math.ceil(14 / step), labels = {};
    for (var i = 0; i < tokens.length; i += stride) {
      var label = A.el("div", "attnlab-token", col, tokens[i]);
      label.style.top = ((i + 0.5) * step - 7) + "px";
      label.title = tokens[i] + " (" + i + ")";
      label.dataset.index = String(i);
      labels[i] = label;
    }
    col.labels = labels;
    return col;
  }

  function hover(col, side, step, count) {
    col.addEventListener("mousemove", function (event) {
      var top = col.getBoundingClientRect().top;
      var i = Math.min(count - 1, Math.max(0, Math.floor((event.clientY - top) / step)));
      if (!state.focus || state.focus.side !== side || state.focus.i !== i) {
        state.focus = { side: side, i: i };
        update();
      }
    });
    col.addEventListener("mouseleave", function () { state.focus = null; update(); });
  }
  hover(left, "q", stepQ, lq);
  hover(right, "k", stepK, lk);

  function toggle(head) {
    var at = state.shown.indexOf(head);
    if (at >= 0) state.shown.splice(at, 1); else state.shown.push(head);
    update();
  }

  // Without a focus, each head draws at most its share of LINES, the strongest: the weakest
  // lines are all but invisible, and the raster cost of long lines is what limits the speed.
  var LINES = 4096;
  function strongest(base, budget) {
    var counts = new Uint32Array(256), least = 256, total = 0;
    for (var e = base; e < base + lq * k; e++) counts[weights[e]]++;
    while (least > 1 && total + counts[least - 1] <= budget) total += counts[--least];
    if (least === 256) {  // even the strongest lines exceed the budget: keep them, skip queries
      least = 255;
      total = counts[255];
    }
    return { least: least, queryStride: Math.max(1, Math.ceil(total / budget)), lines: lq * k - counts[0] };
  }

  function draw() {
    context.clearRect(0, 0, width, height);
    var focus = state.focus, kept = 0, all = 0;
    var first = focus && focus.side === "q" ? focus.i : 0;
    var last = focus && focus.side === "q" ? focus.i + 1 : lq;
    state.shown.forEach(function (head) {
      // One path per opacity level: a few stroke calls however many lines.
      var paths = [];
      for (var b = 0; b < 8; b++) paths.push(new Path2D());
      var base = (state.layer * heads + head) * lq * k;
      var limit = focus ? { least: 1, queryStride: 1, lines: 0 } : strongest(base, Math.max(256, LINES / state.shown.length));
      all += limit.lines;
      for (var i = first; i < last; i += limit.queryStride) {
        var y = (i + 0.5) * stepQ;
        for (var t = 0; t < k; t++) {
          var e = base + i * k + t, v = weights[e];
          if (v < limit.least) continue;
          var j = keys[e];
          if (focus && focus.side === "k" && j !== focus.i) continue;
          kept++;
          paths[v >> 5].moveTo(0, y);
          paths[v >> 5].lineTo(width, (j + 0.5) * stepK);
        }
      }
      context.strokeStyle = A.headColour(head, heads);
      context.lineWidth = focus ? 2 : 1;
      for (var level = 0; level < 8; level++) {
        context.globalAlpha = (level + 1) / 8;
        context.stroke(paths[level]);
      }
    });
    context.globalAlpha = 1;
    root.dataset.lines = String(kept);
    return kept < all ? "the " + kept + " strongest of " + all + " lines shown; hover a token to see all of its lines" : "";
  }

  function update() {
    buttons.forEach(function (button, h) {
      button.setAttribute("aria-pressed", String(state.shown.indexOf(h) >= 0));
    });
    [left, right].forEach(function (col) {
      Object.keys(col.labels).forEach(function (i) { col.labels[i].classList.remove("attnlab-focus"); });
    });
    var focus = state.focus, text = "";
    if (focus) {
      var col = focus.side === "q" ? left : right;
      if (col.labels[focus.i]) col.labels[focus.i].classList.add("attnlab-focus");
      var tokens = focus.side === "q" ? d.tokens : d.keyTokens;
      text = (focus.side === "q" ? "query " : "key ") + focus.i + ": " + tokens[focus.i];
      if (focus.side === "q" && state.shown.length === 1) {
        text += " (strongest weight " + rowMax[(state.layer * heads + state.shown[0]) * lq + focus.i].toFixed(3) + ")";
      }
    }
    root.dataset.layer = String(state.layer);
    root.dataset.heads = state.shown.slice().sort(function (a, b) { return a - b; }).join(",");
    root.dataset.focus = focus ? focus.side + focus.i : "";
    var note = draw();
    readout.textContent = text || note;
  }
  update();
};
