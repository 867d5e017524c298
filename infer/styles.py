"""`styljax styles list|rename|remove|export|import`: manage the styles of a StyleBank or CIN model."""

from __future__ import annotations

import argparse

from styljax.io import checkpoints

READ_ONLY = ("list", "export")  # the actions that take the default model; the others change it
POSITIONALS = {"old": "the style's current name", "new": "its new name", "name": "the style's name",
               "out": "the file to write (.npz)", "bank": "a file written by `styljax styles export`"}


def register(sub) -> None:
    p = sub.add_parser("styles", help="list, rename, remove, export or import a model's styles", description=__doc__)
    verbs = p.add_subparsers(dest="styles_verb", metavar="ACTION", required=True)
    for name, helptext, extra in (
        ("list", "list the styles", ()),
        ("rename", "rename a style", ("old", "new")),
        ("remove", "remove a style", ("name",)),
        ("export", "write one style (a bank, or CIN γ/β) as its own file", ("name", "out")),
        ("import", "add an exported style", ("bank",)),
    ):
        v = verbs.add_parser(name, help=helptext, description=helptext)
        if name in READ_ONLY:
            v.add_argument("--model", default=None,
                           help=f"model directory (default: the shipped StyleBank model, as `styljax stylize "
                                f"--method stylebank`: {checkpoints.describe('stylebank')})")
        else:  # changes the model: never the shipped one by default
            v.add_argument("--model", required=True, help="model directory (changed in place)")
        for a in extra:
            v.add_argument(a, help=POSITIONALS[a])
        if name == "import":
            v.add_argument("--name", default=None, help="name the style (default: the name it was exported with)")
            v.add_argument("--force", action="store_true", help="accept a style trained with another body (auto-encoder / transform net)")
        v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from styljax import methods
    from styljax.nets import stylebank as sb
    from styljax.methods import store_for_model

    from styljax.io import magenta

    args.model = str(magenta.resolve_model(args.model) if args.model else methods.get("stylebank").default_model_path())
    st = store_for_model(args.model)
    verb = args.styles_verb
    if verb == "list":
        params, _, _ = st.load_model(args.model)
        body = sb.nbytes({k: params[k] for k in st.body_keys})
        print(f"{args.model}: {st.body_name} {body / 2**20:.2f} MiB")
        for n in st.public(params[st.styles_key]):  # a reserved style (CIN's identity) is internal
            print(f"  {n}  ({sb.nbytes(params[st.styles_key][n]) / 2**10:.1f} KiB)")
    elif verb == "rename":
        st.rename_style(args.model, args.old, args.new)
        print(f"renamed {args.old} -> {args.new}")
    elif verb == "remove":
        st.remove_style(args.model, args.name)
        print(f"removed {args.name}")
    elif verb == "export":
        print(f"wrote {st.export_style(args.model, args.name, args.out)}")
    else:
        print(f"imported style {st.import_style(args.model, args.bank, args.name, args.force)}")
    return 0
