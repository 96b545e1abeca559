"""Step-level tree search: the policy proposes next steps, a process reward model values them.

A step is one line of the chain of thought. A node holds the reasoning so far; expanding it asks
the policy for ``k`` next lines (sampled, cut at the newline, duplicates merged, each kept with
the share of samples that wrote it as its prior), and the reward model gives each new partial
text a value (``RewardModel.values``). A line that ends the completion (the answer, or the model
giving up) makes a finished node, judged as a whole (``score``). All prompts of a tree share
their prefixes, so the policy's and the value model's prefix caches compute each once.

* ``beam``: keep the ``width`` best of all children at each depth (Snell et al. 2024).
* ``tot``: Tree-of-Thoughts BFS (Yao et al. 2023), the same loop with its settings: b = 5
  states, values below ``prune`` dropped. A reference baseline.
* ``dvts``: diverse verifier tree search (Beeching et al. 2024): ``width`` subtrees, each
  following its own best child, so one strong prefix cannot take over the beam.
* ``rebase``: reward-balanced expansion (Wu et al. 2024): each depth's children are shared out
  among the frontier by a softmax of their values; finished lines use up the width.
* ``best-first``: expand the open node of highest value first (Q*'s deliberative planning with
  the value model as its heuristic); stop at the first finished line scoring above ``accept``.
* ``mcts``: Monte Carlo tree search with PUCT (AlphaZero): priors from the policy's samples,
  leaves valued by the value model, values backed up the path; the answer by ``choose``:
  ``visits`` (follow the most visited children, finishing the line greedily if needed) or
  ``value`` (the best finished line).

Every tree strategy asks for ``direct`` lines by default (``style``): one operation each, with the
numbers it leaves, so a line is a step of the problem and a path to an answer costs tens of tokens
(``PATH_TOKENS``). A policy not trained on that style gets its task's default prompt, and its
lines are those of its written-out search. Without ``width`` (or ``simulations``), the tree's size
comes from the budget. Where the task knows its rules (``Task.legal``), a proposed step that is no
move of the game is dropped (``legal``), and a direct path's answer is written from its steps
(``transcribe``); whether a move leads anywhere is left to the value model.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Generator

from ponder.search.base import Calls, Search, Strategy, check_style, register, trace_styles
from ponder.types import Candidate, SamplingParams
from ponder.utils import apportion

LINE_TOKENS = 64
"""Most tokens one step (a line) may take."""

PATH_TOKENS = {"direct": 100, "": 1500}
"""What one root-to-answer line of reasoning costs, roughly, by the style it is written in: its
tokens written by the policy and read by the value model (a direct Countdown-4 path: three step
lines and the answer, about 45 tokens; a written-out search: about 700). Sizes a tree from a budget."""

UNBUDGETED = 64
"""Without a budget, the simulations MCTS runs and the nodes best-first opens, unless told: widened,
a search that trusts no line would otherwise open every state of the game."""


@dataclass(eq=False)
class Node:
    text: str
    """The reasoning so far: whole lines, each ending in a newline (a finished node: the whole text)."""
    parent: "Node | None" = None
    value: float = 0.5
    prior: float = 1.0
    done: bool = False
    children: list["Node"] = field(default_factory=list)
    visits: int = 0
    total: float = 0.0
    widened: bool = False
    """Whether every legal next line the task lists is among the children (``widened``)."""

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    @property
    def line(self) -> str:
        return self.text.rstrip("\n").rsplit("\n", 1)[-1]


def expand(s: Search, nodes: list[Node], ks: list[int], how: "Beam | BestFirst | MCTS") -> Generator:
    """Give each node ``ks[i]`` sampled next lines as children, valued, the way the strategy ``how``
    says: its ``temperature``, ``widen``, ``transcribe`` and ``legal``. With ``legal``, a proposed
    step that is no move of the game (``Task.legal``: a number that is not there, wrong arithmetic;
    in a search over direct steps by a policy taught them, also a line that is no direct step, such
    as a line of the written-out search: ``is_move``) is dropped unvalued, as a game engine never
    plays an illegal move; whether a move leads to the goal is still the value model's to judge.
    With ``widen``, a node none of whose children is valued at least that also gets every other
    legal next line its task lists (``widened``). With
    ``transcribe``, an answer the policy writes after a direct path's last step is replaced by the
    one the steps spell out (``Task.written_answer``: a transcription, nothing checked), so the
    search judges the path, not the policy's copying of it. Returns the new children per node
    (none once the budget is spent)."""
    temperature, widen, transcribe, legal = how.temperature, how.widen, how.transcribe, how.legal
    pairs = [(n, k) for n, k in zip(nodes, ks) if k > 0 and not n.done]
    want = sum(k for _, k in pairs)
    if not pairs or s.left < want:
        return [[] for _ in nodes]
    cap = int(min(LINE_TOKENS, (s.left - s.reward_cost(want)) // want))
    sep = s.task.step_separator  # math: a blank line
    concluded = s.task.final_answer  # math: only a stated answer ends it, not any number
    params, sent = [], []
    for n, k in pairs:
        room = min(cap, s.room(n.text))
        if room < 1:
            n.done = True  # the context is full: this line of reasoning ends here
            continue
        sent.append(n)
        params.append(SamplingParams(n=k, temperature=temperature, max_tokens=room, stop=(sep,),
                                     seed=s.seed * 7919 + s.calls))
    if not sent:
        return [[] for _ in nodes]
    out = yield from s.generate([n.text for n in sent], params)
    made: dict[int, list[Node]] = {}
    for parent, completions in zip(sent, out):
        text = parent.text
        # a line ends the reasoning when it is the answer, or when the completion ended (end of text, no room)
        answered = transcribe and any(concluded(c.text) is not None for c in completions)
        written = s.task.written_answer(s.problem, text) if answered else None
        counts = Counter((written if written and concluded(c.text) is not None else c.text,
                          c.stop == sep and concluded(c.text) is None) for c in completions)
        if legal:
            counts = Counter({key: m for key, m in counts.items()
                              if is_move(s, text + key[0] + (sep if key[1] else ""), how.style)})
        kids = [Node(text + line + (sep if open_ else ""), parent, prior=m / counts.total(), done=not open_)
                for (line, open_), m in counts.items()]
        parent.children.extend(kids)
        made[id(parent)] = kids
    fresh = [k for kids in made.values() for k in kids]
    judge(s, fresh)
    if widen is not None and s.task.lists_steps:
        judge(s, widened(s, sent, made, widen))
    return [made.get(id(n), []) for n in nodes]


def is_move(s: Search, text: str, style: str) -> bool:
    """Whether ``text``'s last line may stand as a move: not one the task's rules rule out, and in a
    search over direct steps of a task that lists its moves, by a policy trained to write them, a
    direct step (or the answer) at all: any other line is the policy slipping into another style."""
    verdict = s.task.legal(s.problem, text)
    strict = style == "direct" and s.task.lists_steps and "direct" in trace_styles(s.policy)
    return verdict is True or verdict is None and not strict


def widened(s: Search, parents: list[Node], made: dict[int, list[Node]], widen: float) -> list[Node]:
    """For each parent whose children (``made``) are all valued below ``widen``: a child for every
    legal next line its task lists that the policy did not propose, as a game's rules list its
    moves (AlphaZero expands every legal move, the policy only weighting them). The value model
    reads each one, paid from the budget. The policy's priors have proved no guide there, so all
    the parent's children share its prior equally. Returns the new children."""
    sep, concluded = s.task.step_separator, s.task.final_answer
    extra: list[Node] = []
    for parent in parents:
        kids = made.setdefault(id(parent), [])
        if parent.widened or any(k.value >= widen for k in kids):
            continue
        parent.widened = True
        proposed = {k.text for k in kids}
        for line in s.task.next_steps(s.problem, parent.text) or []:
            open_ = concluded(line) is None
            text = parent.text + line + (sep if open_ else "")
            if text not in proposed:
                kid = Node(text, parent, done=not open_)
                kids.append(kid)
                parent.children.append(kid)
                extra.append(kid)
        for kid in kids:
            kid.prior = 1 / len(kids)
    return extra


def judge(s: Search, nodes: list[Node]) -> None:
    """Value open nodes (partial texts) and score finished ones (no answer scores 0), as far as the
    budget pays; a node left unjudged keeps its parent's value."""
    for n in nodes:
        n.value = n.parent.value if n.parent is not None else n.value
    open_ = [n for n in nodes if not n.done]
    open_ = open_[:s.affordable([new_text(n) for n in open_])]  # the prefix is cached: new lines cost
    for n, v in zip(open_, s.value([n.text for n in open_])):
        n.value = v
    answered = [n for n in nodes if n.done and s.task.answer(n.text) is not None]
    answered = answered[:s.affordable([n.text for n in answered], whole=True)]
    for n, v in zip(answered, s.score([n.text for n in answered])):
        n.value = v
    for n in nodes:
        if n.done and s.task.answer(n.text) is None:
            n.value = 0.0


def new_text(node: Node) -> str:
    """What ``node`` adds to its parent's text: all a prefix-cached reader has still to compute."""
    return node.text[len(node.parent.text):] if node.parent is not None else node.text


def draw(root: Node, limit: int = 400) -> list[str]:
    """The explored tree, one line per node: depth, value, visits, the node's last line."""
    rows: list[str] = []

    def walk(n: Node) -> None:
        if len(rows) >= limit:
            return
        if n.parent is not None:
            mark = " [end]" if n.done else ""
            visits = f" n={n.visits}" if n.visits else ""
            rows.append(f"{'  ' * min(n.depth - 1, 20)}{n.depth:>3} v={n.value:.2f}{visits} {n.line}{mark}")
        for c in sorted(n.children, key=lambda c: -c.value):
            walk(c)

    walk(root)
    return rows


def tree_json(s: Search, root: Node, chosen: Node | None, limit: int = 2000) -> dict:
    """The explored tree for the explorer: per node its last line, value, prior, visits, whether it
    ends the reasoning (and the answer it gives), whether it is on the chosen line; children best
    first. Past ``limit`` nodes, a node says how many children it leaves out (``hidden``)."""
    path = set()
    while chosen is not None:
        path.add(id(chosen))
        chosen = chosen.parent
    count = 0

    def node(n: Node) -> dict:
        nonlocal count
        count += 1
        out = {"line": n.line if n.parent is not None else "", "depth": n.depth, "value": round(n.value, 4),
               "prior": round(n.prior, 4), "visits": n.visits, "done": n.done, "chosen": id(n) in path,
               "answer": s.task.answer(n.text) if n.done else None, "children": []}
        for c in sorted(n.children, key=lambda c: -c.value):
            if count >= limit:
                out["hidden"] = len(n.children) - len(out["children"])
                break
            out["children"].append(node(c))
        return out

    return node(root)


def finish(s: Search, root: Node, finished: list[Node], what: str) -> object:
    candidates = [Candidate(n.text, s.task.answer(n.text), n.value) for n in finished]
    s.trace.extend(draw(root))
    answered = [(c, n) for c, n in zip(candidates, finished) if c.answer is not None]
    if not answered:
        s.tree = tree_json(s, root, None)
        return s.result(None, candidates, note=f"{what}: no line of reasoning reached an answer.")
    best, node = max(answered, key=lambda cn: cn[0].score)
    s.tree = tree_json(s, root, node)
    return s.result(best, candidates, note=f"{what}: {len(candidates)} finished lines, this one scored "
                                           f"{best.score:.2f} by {s.reward.name}.")


def sized(s: Search, per: int, default: int) -> int:
    """How many parallel lines of reasoning the budget pays for, ``per`` children each."""
    return default if s.budget is None else max(1, s.budget // (path_tokens(s) * per))


def path_tokens(s: Search) -> int:
    return PATH_TOKENS.get(s.style, PATH_TOKENS[""])


@register
@dataclass
class Beam(Strategy):
    """Step-level beam search: ``expand`` children per beam, the ``width`` best kept."""

    name = "beam"
    reward_kind = "process"
    width: int | None = None
    expand: int = 4
    temperature: float = 1.0
    prune: float = 0.0
    """Drop children valued below this (Tree of Thoughts' "impossible")."""
    widen: float | None = None
    """Where no child the policy proposed is valued at least this, add every legal next line the
    task lists (tasks that list them: Countdown, Game of 24; None: the policy's proposals only)."""
    transcribe: bool = True
    """Write a direct path's answer from its steps instead of taking the policy's (``expand``)."""
    legal: bool = True
    """Drop proposed steps that are no move of the game (``expand``; tasks that list their moves)."""
    style: str = "direct"
    """The trace style to ask for: ``direct`` (one operation a line) or ``search``; a policy not
    trained on it writes its task's default."""

    def __post_init__(self) -> None:
        check_style(self.style)

    def search(self, s: Search) -> Calls:
        s.ask_for(self.style)
        width = self.width or self.sized(s)
        root = Node("")
        frontier, finished = [root], []
        while frontier and len(finished) < width:
            wanted = self.children(frontier, width - len(finished))
            groups = yield from expand(s, frontier, wanted, self)
            kids = [k for g in groups for k in g]
            if not kids:
                break
            finished += [k for k in kids if k.done]
            frontier = self.keep(groups, width - len(finished))
        return finish(s, root, finished, f"{self.name} (width {width})")

    def sized(self, s: Search) -> int:
        return sized(s, self.expand, 4)

    def children(self, frontier: list[Node], room: int) -> list[int]:
        """How many children each frontier node gets."""
        return [self.expand] * len(frontier)

    def keep(self, groups: list[list[Node]], room: int) -> list[Node]:
        """The new frontier, at most ``room`` nodes, from each node's children."""
        open_ = [k for g in groups for k in g if not k.done and k.value >= self.prune]
        return sorted(open_, key=lambda n: -n.value)[:max(0, room)]


@register
@dataclass
class TreeOfThoughts(Beam):
    """Tree-of-Thoughts BFS: propose, value, keep the b best (b = ``width``)."""

    name = "tot"
    width: int | None = 5
    expand: int = 5
    prune: float = 0.05


@register
@dataclass
class DVTS(Beam):
    """Diverse verifier tree search: ``width`` independent subtrees, each greedy on value."""

    name = "dvts"

    def keep(self, groups: list[list[Node]], room: int) -> list[Node]:
        best = [max(open_, key=lambda n: n.value) for g in groups if (open_ := [k for k in g if not k.done])]
        if len(groups) == 1 and len(best) == 1:  # the root: split into subtrees at once
            best = sorted((k for k in groups[0] if not k.done), key=lambda n: -n.value)
        return best[:max(0, room)]


@register
@dataclass
class Rebase(Beam):
    """Reward-balanced expansion: ``width`` children per depth, shared by softmax(value / balance)."""

    name = "rebase"
    balance: float = 0.1
    """Softmax temperature over values: low gives the best nodes nearly all children."""

    def sized(self, s: Search) -> int:
        return sized(s, 1, 8)

    def children(self, frontier: list[Node], room: int) -> list[int]:
        return self.share(frontier, room)

    def keep(self, groups: list[list[Node]], room: int) -> list[Node]:
        return [k for g in groups for k in g if not k.done]

    def share(self, nodes: list[Node], total: int) -> list[int]:
        return apportion(total, [math.exp((n.value - max(m.value for m in nodes)) / self.balance) for n in nodes])


@register
@dataclass
class BestFirst(Strategy):
    """Best-first search on the value model's estimate; ``batch`` nodes expanded per round."""

    name = "best-first"
    reward_kind = "process"
    expand: int = 2
    batch: int = 2
    accept: float = 0.5
    """Stop at the first finished line scoring at least this."""
    temperature: float = 1.0
    style: str = "direct"
    widen: float | None = None
    """Where no child the policy proposed is valued at least this, add every legal next line the
    task lists (tasks that list them: Countdown, Game of 24; None: the policy's proposals only)."""
    transcribe: bool = True
    """Write a direct path's answer from its steps instead of taking the policy's (``expand``)."""
    legal: bool = True
    """Drop proposed steps that are no move of the game (``expand``; tasks that list their moves)."""
    nodes: int | None = None
    """Nodes expanded at most (None: as many as the budget pays for, or ``UNBUDGETED`` without one)."""

    def __post_init__(self) -> None:
        check_style(self.style)

    def search(self, s: Search) -> Calls:
        s.ask_for(self.style)
        root = Node("")
        heap: list[tuple[float, int, Node]] = [(0.0, 0, root)]
        finished: list[Node] = []
        pushed = 1
        left = self.nodes or (UNBUDGETED if s.budget is None else math.inf)
        while heap and left > 0 and not any(n.value >= self.accept for n in finished):
            nodes = [heapq.heappop(heap)[2] for _ in range(min(self.batch, len(heap), left))]
            left -= len(nodes)
            groups = yield from expand(s, nodes, [self.expand] * len(nodes), self)
            kids = [k for g in groups for k in g]
            if not kids and s.left < self.expand * len(nodes):
                break  # the budget cannot pay for another round
            for k in kids + self.rewiden(s, nodes):
                if k.done:
                    finished.append(k)
                else:
                    heapq.heappush(heap, (-k.value, pushed, k))
                    pushed += 1
        return finish(s, root, finished, "best-first")

    def rewiden(self, s: Search, expanded: list[Node]) -> list[Node]:
        """With ``widen``: back the best child's value up from each node just expanded to the root
        (a state is worth its best move), and give an ancestor that no longer has a child valued at
        least ``widen`` every legal next line it lacks, valued (``widened``): a move that looked good
        when its siblings were left unlisted may turn out dead below. Returns the new children."""
        if self.widen is None or not s.task.lists_steps:
            return []
        fresh: list[Node] = []
        for node in expanded:
            while node is not None and node.children:
                extra = widened(s, [node], {id(node): list(node.children)}, self.widen)  # only where no child is worth widen
                if extra:
                    judge(s, extra)
                    fresh += extra
                if node.parent is not None:
                    node.value = max(k.value for k in node.children)
                node = node.parent
        return fresh


@register
@dataclass
class MCTS(Strategy):
    """PUCT tree search: select by Q + c * P * sqrt(N) / (1 + n), expand ``expand`` children,
    value them, back the value up; ``parallel`` leaves per round (with a virtual loss)."""

    name = "mcts"
    reward_kind = "process"
    simulations: int | None = None
    expand: int = 4
    c_puct: float = 1.5
    parallel: int = 4
    choose: str = "visits"
    """``visits``: the most visited path (finished greedily if it stops short); ``value``: the best finished line."""
    temperature: float = 1.0
    style: str = "direct"
    widen: float | None = None
    """Where no child the policy proposed is valued at least this, add every legal next line the
    task lists (tasks that list them: Countdown, Game of 24; None: the policy's proposals only)."""
    transcribe: bool = True
    """Write a direct path's answer from its steps instead of taking the policy's (``expand``)."""
    legal: bool = True
    """Drop proposed steps that are no move of the game (``expand``; tasks that list their moves)."""

    def __post_init__(self) -> None:
        check_style(self.style)
        if self.choose not in ("visits", "value"):
            raise ValueError(f"choose must be 'visits' or 'value', got {self.choose!r}")

    def search(self, s: Search) -> Calls:
        s.ask_for(self.style)
        sims = self.simulations or (UNBUDGETED if s.budget is None else s.budget // 16)  # a simulation writes 16 tokens or more
        # kept to finish the chosen line: what a path costs, at most half the context
        reserve = min(s.policy.max_context // 2, path_tokens(s)) if s.budget is not None else 0
        root = Node("")
        yield from self.simulate(s, root, sims, reserve)
        finished = [n for n in all_nodes(root) if n.done]
        done_sims = root.visits
        if self.choose == "value" and any(s.task.answer(n.text) for n in finished):
            return finish(s, root, finished, f"mcts ({done_sims} simulations, best value)")
        node = root
        while node.children:
            node = max(node.children, key=lambda c: (c.visits, c.value))
        if not node.done:  # the most visited path stops short of an answer: finish it greedily
            room = s.room(node.text)
            if room >= 1:
                [[c]] = yield from s.generate([node.text], SamplingParams(n=1, temperature=0.0, max_tokens=room))
                node = Node(node.text + c.text, node, value=node.value, done=True)
                node.parent.children.append(node)
        s.trace.extend(draw(root))
        s.tree = tree_json(s, root, node if node.done else None)
        candidates = [Candidate(n.text, s.task.answer(n.text), n.value) for n in (*finished, node) if n.done]
        best = candidates[-1] if node.done else None
        return s.result(best, candidates, note=f"mcts: {done_sims} simulations; the most visited line.")

    def simulate(self, s: Search, root: Node, simulations: int, reserve: int = 0) -> Generator:
        """Run ``simulations`` simulations below ``root``; returns the visit weights of its children.

        A simulation selects a leaf by PUCT (``parallel`` leaves a wave, kept apart by a virtual
        loss). An open leaf is expanded: the policy proposes ``expand`` lines and the value model
        values them; the prior-weighted mean of their values is backed up (0 when the context has
        no room for another line, which finishes the leaf). A finished leaf backs up its own value
        (the verifier's score, 0 without an answer) and counts as a simulation, as in AlphaZero.
        Stops early when the budget, less ``reserve``, cannot pay for another wave."""
        start = root.visits
        while (done := root.visits - start) < simulations and s.left - reserve > self.expand * LINE_TOKENS:
            leaves = self.select_leaves(root, min(self.parallel, simulations - done))
            growing = [n for n in leaves if not n.done]
            widths = [self.expand] * len(growing)
            groups = (yield from expand(s, growing, widths, self)) if growing else []
            if growing and not any(groups) and not all(n.done for n in growing):
                break  # the budget cannot pay for the wave
            for leaf, kids in zip(growing, groups):
                self.backup(leaf, sum(k.prior * k.value for k in kids))
            for leaf in leaves:
                if leaf.done and leaf not in growing:
                    self.backup(leaf, leaf.value)
        return visit_weights(root)

    def select_leaves(self, root: Node, count: int) -> list[Node]:
        """Up to ``count`` distinct leaves under ``root`` to expand together: each selection adds a
        virtual loss on its path, so the next one looks elsewhere (the losses are taken back)."""
        leaves: list[Node] = []
        for _ in range(count):
            leaf = self.select(root)
            if leaf in leaves:
                break
            leaves.append(leaf)
            self.backup(leaf, 0.0, virtual=True)
        for leaf in leaves:
            self.backup(leaf, 0.0, virtual=True, undo=True)
        return leaves

    def select(self, root: Node) -> Node:
        """Down from ``root`` by PUCT, Q + c * P * sqrt(N) / (1 + n), to a leaf or a finished node
        (an unvisited child's Q is its value)."""
        node = root
        while node.children and not node.done:
            total = math.sqrt(max(1, node.visits))
            node = max(node.children, key=lambda c: (c.total / c.visits if c.visits else c.value)
                       + self.c_puct * c.prior * total / (1 + c.visits))
        return node

    @staticmethod
    def backup(node: Node, value: float, virtual: bool = False, undo: bool = False) -> None:
        """Add a visit (and ``value``) to ``node`` and every node above it; ``virtual``: the visit
        only (a virtual loss), ``undo``: take one back."""
        step = -1 if undo else 1
        while node is not None:
            node.visits += step
            if not virtual:
                node.total += value
            node = node.parent


def visit_weights(node: Node) -> list[float]:
    """Each child's share of the visits to ``node``'s children (the improved policy that AlphaZero
    trains towards); by the priors while no child has a visit."""
    visits = [float(c.visits) for c in node.children]
    if not sum(visits):
        visits = [c.prior for c in node.children]
    total = sum(visits)
    return [v / total for v in visits]


def all_nodes(root: Node) -> list[Node]:
    """``root`` and every node below it, depth first (a node's last child first)."""
    out, stack = [], [root]
    while stack:
        n = stack.pop()
        out.append(n)
        stack += n.children
    return out
