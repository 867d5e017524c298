"""`styljax styles list|rename|remove|export|import`: manage the styles of a StyleBank model."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("styles", help="list, rename, remove, export or import a model's styles")
    verbs = p.add_subparsers(dest="styles_verb", metavar="ACTION", required=True)
    for name, helptext, extra in (
        ("list", "list the styles", ()),
        ("rename", "rename a style", ("old", "new")),
        ("remove", "remove a style", ("name",)),
        ("export", "write one style's bank as its own file", ("name", "out")),
        ("import", "add an exported bank", ("bank",)),
    ):
        v = verbs.add_parser(name, help=helptext)
        v.add_argument("--model", required=True)
        for a in extra:
            v.add_argument(a)
        if name == "import":
            v.add_argument("--name", default=None)
            v.add_argument("--force", action="store_true", help="accept a bank from another auto-encoder")
        v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from styljax.models import stylebank as sb
    from styljax.models import stylebank_store as ss

    verb = args.styles_verb
    if verb == "list":
        params, _, manifest = ss.load_model(args.model)
        ae = sb.nbytes({k: params[k] for k in ("encoder", "decoder")})
        print(f"{args.model}: auto-encoder {ae / 2**20:.2f} MiB")
        for n, b in sorted(params["banks"].items()):
            print(f"  {n}  ({sb.nbytes(b) / 2**20:.2f} MiB)")
    elif verb == "rename":
        ss.rename_style(args.model, args.old, args.new)
        print(f"renamed {args.old} -> {args.new}")
    elif verb == "remove":
        ss.remove_style(args.model, args.name)
        print(f"removed {args.name}")
    elif verb == "export":
        print(f"wrote {ss.export_bank(args.model, args.name, args.out)}")
    else:
        print(f"imported style {ss.import_bank(args.model, args.bank, args.name, args.force)}")
    return 0
