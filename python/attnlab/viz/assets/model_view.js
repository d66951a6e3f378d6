// attnlab model_view: every head as a thumbnail (layers down, heads across); a click enlarges
// one with its query and key tokens on the axes and a colour bar, and the pointer over it
// reads the weight with both tokens and their positions.
window.attnlabViews.model_view = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var levels = A.uint16(d.cells), per = d.rq * d.rk, heads = d.heads;
  var pooledRows = d.rq < d.lq, pooledCols = d.rk < d.lk;
  var state = { scale: d.scale, selected: null };
  var thumb = Math.max(40, Math.min(96, Math.floor(720 / heads)));
  var big = 360, bigW = d.rk >= d.rq ? big : Math.round((big * d.rk) / d.rq);
  var bigH = d.rq >= d.rk ? big : Math.round((big * d.rq) / d.rk);

  var bar = A.el("div", "attnlab-bar", root);
  A.scaleSelect(bar, state.scale, function (scale) { state.scale = scale; update(); });
  A.exportButtons(bar, root, "attnlab-model-view", scene);
  A.notes(root, [d.title, d.batchNote, d.pooledNote, "click a head to enlarge it"]);

  var main = A.el("div", "attnlab-model", root);
  var grid = A.el("div", "attnlab-grid", main);
  grid.style.gridTemplateColumns = "auto repeat(" + heads + ", " + thumb + "px)";
  A.el("div", "", grid);
  for (var h = 0; h < heads; h++) A.el("div", "attnlab-caption", grid, "head " + h);
  var thumbs = [];
  d.layers.forEach(function (name, layer) {
    A.el("div", "attnlab-caption attnlab-row", grid, name);
    for (var h = 0; h < heads; h++) {
      var canvas = A.canvas(grid, thumb, thumb, "attnlab-thumb");
      canvas.title = name + ", head " + h;
      canvas.addEventListener("click", select.bind(null, layer, h));
      thumbs.push(canvas);
    }
  });

  var rowLabels = A.cellLabels(d.tokens, d.rq), colLabels = A.cellLabels(d.keyTokens, d.rk);
  var panel = A.el("div", "attnlab-enlarged", main);
  panel.hidden = true;
  var layout = A.heatmapLayout(
    { w: bigW, h: bigH, rowLabels: rowLabels, colLabels: colLabels, title: true, bar: true });
  var enlarged = A.canvas(panel, layout.width, layout.height, "attnlab-big");
  var readout = A.el("div", "attnlab-readout", panel, "\u00a0");

  function tileOf(layer, head) {
    var offset = (layer * heads + head) * per;
    return A.tile(A.strengths(levels, offset, d.rq, d.rk, state.scale), 0, d.rq, d.rk, A.ink);
  }
  function barTop() { return state.scale === "absolute" ? d.top : 1; }
  function headTitle(layer, head) {
    return d.layers[layer] + ", head " + head + " (query \u2193, key \u2192)";
  }

  function paintEnlarged(p, x, y) {
    var s = state.selected, L = { x: x + layout.x, y: y + layout.y, w: layout.w, h: layout.h };
    A.paintHeatmap(p, L, {
      tile: tileOf(s.layer, s.head), rowLabels: rowLabels, colLabels: colLabels,
      title: headTitle(s.layer, s.head),
      bar: { top: barTop(), label: A.SCALES[state.scale] }
    });
  }

  function select(layer, head) {
    thumbs.forEach(function (t) { t.classList.remove("attnlab-selected"); });
    thumbs[layer * heads + head].classList.add("attnlab-selected");
    state.selected = { layer: layer, head: head };
    panel.hidden = false;
    root.dataset.selected = layer + "," + head;
    update();
  }

  enlarged.addEventListener("mousemove", function (event) {
    if (!state.selected) return;
    var cell = A.cellAt(enlarged, layout, d.rq, d.rk, event);
    if (!cell) { readout.textContent = "\u00a0"; root.dataset.cell = ""; return; }
    var s = state.selected, at = (s.layer * heads + s.head) * per + cell.row * d.rk + cell.col;
    var weight = A.weight(levels[at], d.top);
    readout.textContent = "query " + A.cellTokens(d.tokens, cell.row, d.rq) + " \u2192 key " +
      A.cellTokens(d.keyTokens, cell.col, d.rk) + ": " +
      (pooledRows || pooledCols ? "largest weight " : "weight ") + weight.toFixed(4);
    root.dataset.cell = cell.row + "," + cell.col;
  });

  // The thumbnails (and the enlarged head) for the PNG and SVG downloads.
  function scene() {
    var nameWidth = 0;
    d.layers.forEach(function (name) { nameWidth = Math.max(nameWidth, A.textWidth(name, 11)); });
    nameWidth = Math.min(160, nameWidth + 8);
    var gridW = nameWidth + heads * (thumb + 3), gridH = 34 + d.layers.length * (thumb + 3);
    var extra = state.selected ? 20 + layout.width : 0;
    return {
      width: gridW + extra, height: Math.max(gridH, state.selected ? 34 + layout.height : 0) + 6,
      paint: function (p) {
        p.text(4, 9, [d.title, d.batchNote].filter(Boolean).join(" \u2014 "),
          { size: 11, bold: true, width: gridW + extra - 8 });
        for (var h = 0; h < heads; h++) {
          p.text(nameWidth + h * (thumb + 3) + thumb / 2, 26, "head " + h,
            { size: 10, anchor: "middle", colour: "#555" });
        }
        d.layers.forEach(function (name, layer) {
          var y = 34 + layer * (thumb + 3);
          p.text(nameWidth - 4, y + thumb / 2, name,
            { size: 10, anchor: "end", width: nameWidth - 6, colour: "#555" });
          for (var h = 0; h < heads; h++) {
            var x = nameWidth + h * (thumb + 3);
            p.image(tileOf(layer, h), x, y, thumb, thumb);
            var s = state.selected, chosen = s && s.layer === layer && s.head === h;
            p.rect(x, y, thumb, thumb, null, chosen ? "#d33" : "#ccc");
          }
        });
        if (state.selected) paintEnlarged(p, gridW + 20, 34);
      }
    };
  }

  function update() {
    thumbs.forEach(function (canvas, n) {
      var p = A.canvasPainter(canvas);
      p.clear("#fff");
      p.image(tileOf(Math.floor(n / heads), n % heads), 0, 0, thumb, thumb);
    });
    if (state.selected) {
      var p = A.canvasPainter(enlarged);
      p.clear("#fff");
      paintEnlarged(p, 0, 0);
    }
    root.dataset.scale = state.scale;
  }
  root.dataset.selected = "";
  update();
};
