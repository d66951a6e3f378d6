// attnlab neuron_view: for one head and a chosen query, the query vector q, each key vector k,
// their elementwise product q * k, the score (the product's sum / sqrt(D)) and the weight the
// kernel gave the key. Pick the query from the menu (arrow keys step through it), hover a cell
// to read it.
window.attnlabViews.neuron_view = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var q = A.float32(d.q), k = A.float32(d.k), weights = A.float32(d.weights);
  var raw = A.bytes(d.keys);
  var keys = d.keyBytes === 2 ? new Uint16Array(raw.buffer) : new Uint32Array(raw.buffer);
  var D = d.dim, m = d.m, state = { query: d.query };
  var cell = Math.max(2, Math.min(10, Math.floor(320 / D)));
  var ROW = 15, LABEL = 110, BAR = 120, GAP = 14;
  var stripW = D * cell, top = 52;
  var xK = LABEL, xP = xK + stripW + GAP, xS = xP + stripW + GAP, xW = xS + BAR + GAP;
  var width = xW + BAR + 8, height = top + ROW * (m + 1) + 24;

  var bar = A.el("div", "attnlab-bar", root);
  var label = A.el("label", "attnlab-control", bar, "query ");
  var select = A.el("select", "attnlab-query", label);
  d.tokens.forEach(function (token, i) {
    var option = A.el("option", "", select, A.token(d.tokens, i));
    option.value = String(i);
  });
  select.value = String(state.query);
  select.addEventListener("change", function () { state.query = Number(select.value); update(); });
  A.exportButtons(bar, root, "attnlab-neuron-view", scene);
  A.notes(root, [d.title, d.batchNote,
    m < d.lk ? "each query's " + m + " strongest keys of " + d.lk + ", in position order" : "",
    "colour: blue < 0 < red; score = sum(q * k) / sqrt(" + D + "); weight: the kernel's, " +
    "masks and position biases included"]);
  var readout = A.el("div", "attnlab-readout", root, "\u00a0");
  var canvas = A.canvas(root, width, height, "attnlab-neurons");

  // The rows of the current query: key positions, the products, scores, weights, and the
  // largest magnitudes that set the colour scales.
  function rows() {
    var base = state.query * m;
    var out = { keys: [], products: new Float32Array(m * D), scores: [], weights: [] };
    var reach = 1e-12, productReach = 1e-12, scoreReach = 1e-12, e;
    for (e = 0; e < D; e++) reach = Math.max(reach, Math.abs(q[state.query * D + e]));
    for (var r = 0; r < m; r++) {
      var j = keys[base + r], score = 0;
      out.keys.push(j);
      out.weights.push(weights[base + r]);
      for (e = 0; e < D; e++) {
        var p = q[state.query * D + e] * k[j * D + e];
        out.products[r * D + e] = p;
        score += p;
        reach = Math.max(reach, Math.abs(k[j * D + e]));
        productReach = Math.max(productReach, Math.abs(p));
      }
      out.scores.push(score / Math.sqrt(D));
      scoreReach = Math.max(scoreReach, Math.abs(score / Math.sqrt(D)));
    }
    out.reach = reach;
    out.productReach = productReach;
    out.scoreReach = scoreReach;
    return out;
  }

  function strip(values, offset, count, reach) {
    var scaled = new Float32Array(count);
    for (var i = 0; i < count; i++) scaled[i] = values[offset + i] / reach;
    return scaled;
  }

  function paint(p, y0) {
    var R = rows(), y = y0 + top;
    p.text(4, y0 + 10, "query " + A.token(d.tokens, state.query) + " \u2014 " + d.module +
      ", head " + d.head, { size: 12, bold: true, width: width - 8 });
    p.text(xK, y0 + 30, "key vectors k", { size: 11, bold: true });
    p.text(xP, y0 + 30, "q * k", { size: 11, bold: true });
    p.text(xS, y0 + 30, "score", { size: 11, bold: true });
    p.text(xW, y0 + 30, "weight", { size: 11, bold: true });
    p.text(LABEL - 6, y0 + top - ROW / 2 - 2, "q", { size: 11, anchor: "end", bold: true });
    p.image(A.tile(strip(q, state.query * D, D, R.reach), 0, 1, D, A.diverging),
      xK, y0 + top - ROW - 2, stripW, ROW - 2);
    var products = A.tile(strip(R.products, 0, m * D, R.productReach), 0, m, D, A.diverging);
    var kRows = new Float32Array(m * D);
    R.keys.forEach(function (j, r) {
      for (var e = 0; e < D; e++) kRows[r * D + e] = k[j * D + e] / R.reach;
    });
    p.image(A.tile(kRows, 0, m, D, A.diverging), xK, y, stripW, m * ROW);
    p.image(products, xP, y, stripW, m * ROW);
    p.rect(xK, y, stripW, m * ROW, null, "#ccc");
    p.rect(xP, y, stripW, m * ROW, null, "#ccc");
    R.keys.forEach(function (j, r) {
      var cy = y + r * ROW + ROW / 2;
      p.text(LABEL - 6, cy, A.token(d.keyTokens, j), { size: 10, anchor: "end", width: LABEL - 8 });
      var s = R.scores[r], half = (BAR - 40) / 2, length = (Math.abs(s) / R.scoreReach) * half;
      p.rect(s < 0 ? xS + half - length : xS + half, cy - 4, length, 8,
        s < 0 ? "#6a8fc8" : "#d9736b");
      p.text(xS + BAR - 38, cy, s.toFixed(2), { size: 9, colour: "#444" });
      var w = R.weights[r];
      p.rect(xW, cy - 4, Math.min(1, w) * (BAR - 40), 8, A.css(A.ink(Math.min(1, 0.25 + w))));
      p.text(xW + BAR - 38, cy, w.toFixed(3), { size: 9, colour: "#444" });
    });
    [[xK, R.reach], [xP, R.productReach]].forEach(function (scale) {
      p.text(scale[0], y + m * ROW + 12, "\u00b1" + scale[1].toPrecision(2) + " at full colour",
        { size: 9, colour: "#555" });
    });
  }

  function scene() {
    return { width: width, height: height, paint: function (p) { paint(p, 0); } };
  }

  canvas.addEventListener("mousemove", function (event) {
    var box = canvas.getBoundingClientRect();
    var x = event.clientX - box.left, y = event.clientY - box.top - top;
    var r = Math.floor(y / ROW), inK = x >= xK && x < xK + stripW, inP = x >= xP && x < xP + stripW;
    var e = Math.floor((x - (inK ? xK : xP)) / cell);
    if ((!inK && !inP) || r >= m || y < -ROW) {
      readout.textContent = "\u00a0";
      root.dataset.cell = "";
      return;
    }
    var qe = q[state.query * D + e];
    if (r < 0) {
      readout.textContent = "query " + A.token(d.tokens, state.query) + ", dimension " + e +
        ": q = " + qe.toFixed(4);
      root.dataset.cell = "q," + e;
      return;
    }
    var j = keys[state.query * m + r], ke = k[j * D + e];
    readout.textContent = "key " + A.token(d.keyTokens, j) + ", dimension " + e + ": k = " +
      ke.toFixed(4) + ", q = " + qe.toFixed(4) + ", q * k = " + (qe * ke).toFixed(4);
    root.dataset.cell = j + "," + e;
  });

  function update() {
    select.value = String(state.query);
    var p = A.canvasPainter(canvas);
    p.clear("#fff");
    paint(p, 0);
    root.dataset.query = String(state.query);
  }
  update();
};
