// attnlab model_view: every head as a thumbnail (layers down, heads across); a click enlarges
// one, and the pointer over the enlarged head reads its tokens and weight.
window.attnlabViews.model_view = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var cells = A.bytes(d.cells), per = d.rq * d.rk, heads = d.heads;
  var thumb = Math.max(40, Math.min(96, Math.floor(720 / heads)));
  var big = 420, bigW = d.rk >= d.rq ? big : Math.round((big * d.rk) / d.rq);
  var bigH = d.rq >= d.rk ? big : Math.round((big * d.rq) / d.rk);

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
      A.drawCells(canvas, cells, (layer * heads + h) * per, d.rq, d.rk);
      canvas.addEventListener("click", select.bind(null, layer, h, canvas));
      thumbs.push(canvas);
    }
  });

  var panel = A.el("div", "attnlab-enlarged", main);
  panel.hidden = true;
  var title = A.el("div", "attnlab-title", panel);
  var enlarged = A.canvas(panel, bigW, bigH, "attnlab-big");
  var readout = A.el("div", "attnlab-readout", panel, "\u00a0");
  var selected = null;

  function select(layer, head, canvas) {
    thumbs.forEach(function (t) { t.classList.remove("attnlab-selected"); });
    canvas.classList.add("attnlab-selected");
    selected = { layer: layer, head: head };
    panel.hidden = false;
    title.textContent = d.layers[layer] + ", head " + head + " (darkest = " +
      d.scale[layer * heads + head].toFixed(3) + ")";
    A.drawCells(enlarged, cells, (layer * heads + head) * per, d.rq, d.rk);
    root.dataset.selected = layer + "," + head;
  }

  enlarged.addEventListener("mousemove", function (event) {
    if (!selected) return;
    var box = enlarged.getBoundingClientRect();
    var row = Math.min(d.rq - 1, Math.floor(((event.clientY - box.top) / box.height) * d.rq));
    var col = Math.min(d.rk - 1, Math.floor(((event.clientX - box.left) / box.width) * d.rk));
    var at = (selected.layer * heads + selected.head) * per + row * d.rk + col;
    var weight = (cells[at] / 255) * d.scale[selected.layer * heads + selected.head];
    readout.textContent = A.cellTokens(d.tokens, row, d.rq) + " \u2192 " +
      A.cellTokens(d.keyTokens, col, d.rk) + ": " + weight.toFixed(3) +
      (per < d.lq * d.lk ? " (max of the cell)" : "");
  });
  root.dataset.selected = "";
};
