"""Render every text of every locale with fixed sample values, as a before/after fixture.

Run it from the checkout whose texts are "before" (it imports that checkout's code and
templates from the current directory), writing into this project's fixture folder:

    cd /path/to/old/checkout && python /path/to/this/scripts/texts_before.py \
        --out /path/to/this/tests/data/texts_before

tests/unit/test_texts_before_after.py renders the same keys with the same values from the
current templates and lists every difference, which must be one it expects, with a reason.
The sample values are tests/unit/text_samples.py (of this project, not of the checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "tests" / "data" / "texts_before")
    parser.add_argument("areas", nargs="*", help="only these areas (default: all)")
    parser.add_argument("--fresh", action="store_true", help="forget the texts recorded before")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    sys.path.insert(1, str(HERE / "tests" / "unit"))
    from text_samples import VARIANTS, context

    from bot.texts import Texts  # the checkout's renderer and templates

    texts = Texts()
    args.out.mkdir(parents=True, exist_ok=True)
    for locale in texts.locales:
        path = args.out / f"{locale}.json"
        rendered: dict[str, dict[str, str]] = (
            json.loads(path.read_text(encoding="utf-8")) if path.exists() and not args.fresh else {}
        )
        for key in sorted(texts.keys(locale)):
            area = key.partition(".")[0]
            if area == "calendar" or (args.areas and area not in args.areas):
                continue
            try:
                rendered[key] = {
                    name: texts.render(locale, key, **context(texts, locale, key, values))
                    for name, values in VARIANTS.items()
                }
            except Exception as exc:  # noqa: BLE001 - reported, and the fixture test names it
                print(f"{locale} {key}: not rendered ({exc}); add sample values", file=sys.stderr)
                rendered.pop(key, None)
        text = json.dumps(dict(sorted(rendered.items())), ensure_ascii=False, indent=1)
        path.write_text(text + "\n", encoding="utf-8")
        print(f"{path}: {len(rendered)} texts × {len(VARIANTS)} variants")


if __name__ == "__main__":
    main()
