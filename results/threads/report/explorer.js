// The explorer: draws what a search did from its view (ponder.search.explore.view) into an element.
//   tree:  the explored tree, expandable, the chosen line highlighted, dead ends struck, unexplored nodes in italics
//   votes: the tally of answers, then every sample with its score and check, its lines on demand
//   chain: the lines of one chain of thought, the solution's steps, dead ends and backtracks marked
// Used by the playground (index.html) and by the explorer page for saved rows (explorer.html).
"use strict";

const Explorer = (() => {
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function fmt(x, digits = 2) {
    return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
  }

  // -- tree

  function nodeState(n) {
    if (n.done) return n.answer === null ? "dead" : "answer";
    if (n.line.includes("✗")) return "dead";
    return n.children.length ? "inner" : "open";
  }

  function treeItem(n, expandedDepth) {
    const state = nodeState(n);
    const label = el("span", {class: `node ${state}${n.chosen ? " chosen" : ""}`, "data-depth": n.depth});
    const value = el("span", {class: "value", title: `value ${fmt(n.value, 3)}`}, el("i"));
    value.firstChild.style.width = `${Math.round(100 * Math.max(0, Math.min(1, n.value)))}%`;
    label.append(value, el("span", {class: "meta", text: `v=${fmt(n.value)}` + (n.visits ? ` n=${n.visits}` : "")}),
                 el("span", {text: n.line || "(the problem)"}));
    if (state === "answer") label.append(el("span", {class: "tag answer", text: "answer"}));
    if (state === "dead") label.append(el("span", {class: "tag", text: "dead end"}));
    if (state === "open") label.append(el("span", {class: "tag", text: "not expanded"}));
    const item = el("li", {}, label);
    const kids = n.children.map((c) => treeItem(c, expandedDepth));
    if (kids.length || n.hidden) {
      const list = el("ul", {}, ...kids);
      if (n.hidden) list.append(el("li", {class: "meta", text: `… ${n.hidden} more not shown`}));
      const open = n.chosen || n.depth < expandedDepth;
      list.hidden = !open;
      const toggle = el("span", {class: "toggle", role: "button", "aria-label": "expand", text: open ? "▾" : "▸"});
      toggle.addEventListener("click", () => {
        list.hidden = !list.hidden;
        toggle.textContent = list.hidden ? "▸" : "▾";
      });
      label.prepend(toggle);
      item.append(list);
    } else {
      label.prepend(el("span", {class: "toggle", text: "·"}));
    }
    return item;
  }

  function count(n) {
    return 1 + n.children.reduce((a, c) => a + count(c), 0) + (n.hidden || 0);
  }

  function drawTree(view) {
    const root = view.tree;
    const box = el("div");
    box.append(el("p", {class: "legend"},
      el("span", {text: `${count(root) - 1} nodes explored`}),
      el("span", {class: "node chosen", text: "the chosen line"}), el("span", {class: "node dead", text: "dead end"}),
      el("span", {class: "node open", text: "not expanded (pruned or out of budget)"})));
    const buttons = el("p", {},
      el("button", {type: "button", "data-act": "expand", text: "Expand all"}), " ",
      el("button", {type: "button", "data-act": "collapse", text: "Chosen line only"}));
    box.append(buttons, el("ul", {class: "tree"}, treeItem(root, 1)));
    buttons.addEventListener("click", (e) => {
      const act = e.target.dataset.act;
      if (!act) return;
      box.querySelectorAll(".tree ul").forEach((ul) => {
        const chosen = ul.parentElement.querySelector(":scope > .node").classList.contains("chosen");
        ul.hidden = act === "collapse" ? !chosen : false;
        const t = ul.parentElement.querySelector(":scope > .node > .toggle");
        if (t) t.textContent = ul.hidden ? "▸" : "▾";
      });
    });
    return box;
  }

  // -- votes

  function drawVotes(view) {
    const box = el("div");
    const most = Math.max(1, ...view.tally.map((t) => t.votes));
    const tally = el("table", {}, el("tr", {}, el("th", {text: "answer"}), el("th", {text: "votes"}), el("th")));
    for (const t of view.tally) {
      const bar = el("div", {class: "bar"});
      bar.style.width = `${Math.round(100 * t.votes / most)}%`;
      tally.append(el("tr", {}, el("td", {}, el("code", {text: t.answer})), el("td", {text: String(t.votes)}),
                       el("td", {style: "width:40%"}, bar)));
    }
    box.append(el("h3", {text: `Tally of ${view.samples.length} samples`}), tally);
    const rows = el("table", {}, el("tr", {}, el("th", {text: "#"}), el("th", {text: "answer"}),
                                     el("th", {text: "score"}), el("th", {text: "by rule"}), el("th", {text: "lines"})));
    view.samples.forEach((s, i) => {
      const lines = el("details", {}, el("summary", {text: `${s.lines.length} lines`}), drawLines(s.lines));
      rows.append(el("tr", {class: s.chosen ? "chosen" : ""}, el("td", {text: String(i + 1) + (s.chosen ? " ★" : "")}),
        el("td", {}, el("code", {text: s.answer ?? "(no answer)"})), el("td", {text: fmt(s.score, 3)}),
        el("td", {class: s.correct ? "good" : s.correct === false ? "bad" : "", text: verdict(s.correct)}),
        el("td", {}, lines)));
    });
    box.append(el("h3", {text: "Samples"}), rows);
    return box;
  }

  // -- chain

  function drawLines(lines) {
    const list = el("ol", {class: "lines"});
    for (const line of lines) list.append(el("li", {class: line.mark || "", title: line.mark || "", text: line.text}));
    return list;
  }

  function drawChain(view) {
    const box = el("div");
    box.append(el("p", {class: "legend"}, el("span", {class: "path", text: "▌ a step of the solution"}),
      el("span", {text: "grey: a dead end"}), el("span", {text: "↩ a backtrack"})), drawLines(view.lines));
    return box;
  }

  function verdict(correct) {
    return correct === true ? "correct" : correct === false ? "wrong" : "not checked";
  }

  // -- one view, whatever its kind

  function draw(view, target) {
    target.replaceChildren();
    const kinds = {tree: drawTree, votes: drawVotes, chain: drawChain};
    target.append((kinds[view.kind] || drawChain)(view));
    if (view.trace && view.trace.length && view.kind !== "tree") {
      target.append(el("details", {class: "trace"}, el("summary", {text: "the search's trace"}),
                       el("pre", {text: view.trace.join("\n")})));
    }
  }

  return {draw, verdict, el};
})();
