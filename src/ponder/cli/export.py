"""``ponder export hf``: a nano model as a Hugging Face checkpoint.

(Its own module rather than part of ``train.py``: ``ponder --help`` lists export before profile and
serve, and train after them; one module per run of that list keeps the order.)
"""

from __future__ import annotations

from ponder.cli.common import Parser, examples, output_dir


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="write a nano model in another format")
    esub = p.add_subparsers(dest="format", required=True, parser_class=Parser)
    e = esub.add_parser("hf", help="as a Hugging Face LlamaForCausalLM checkpoint with its tokenizer (needs ponder[hf])",
                        epilog=examples("ponder export hf --out runs/nano-hf",
                                        "ponder eval --task game24 --split tot --limit 20 --model hf:runs/nano-hf"))
    e.add_argument("--model", metavar="PATH_OR_NAME", help="model directory or shipped policy (default: nano-v2)")
    e.add_argument("--out", required=True, metavar="DIR", type=output_dir, help="directory to write (must be new or empty)")
    e.add_argument("--force", action="store_true", help="replace --out if it holds files")
    e.set_defaults(func=cmd_export_hf)


def cmd_export_hf(args) -> int:
    from ponder.backends.nano import DEFAULT_MODEL, SHIPPED_POLICIES, model_path
    from ponder.model.export import export_hf

    label = args.model or DEFAULT_MODEL.name
    source = model_path(label)
    out = export_hf(source, args.out, force=args.force, source_name=label if label in SHIPPED_POLICIES else None)
    print(f"exported {label} to {out} (LlamaForCausalLM); use it with: ponder eval --model hf:{out}")
    return 0
