"""Turn areas kept as one template per locale into one template plus gettext catalogs.

    python scripts/convert_texts.py AREA [AREA ...]         # convert, keep the old files
    python scripts/convert_texts.py --remove-old AREA ...    # convert and delete them
    python scripts/convert_texts.py --check AREA ...         # only report what would fail
    python scripts/convert_texts.py --before-from main --remove-old AREA ...
                      # record every text as main renders it (the before/after test's
                      # fixture), then convert

For each area, prompts/en/<area>.j2, prompts/es/<area>.j2 and prompts/de/<area>.j2 are
read block by block and cut into their template tags ({% if %}, {% for %} …) and the
runs of text between them. The tags must be the same in every locale (the same logic);
the runs are the wording: English gives the msgid, the other locales the msgstr. A run
becomes ``{% trans "area.block" name=expr %}…{% endtrans %}`` in
prompts/templates/<area>.j2, its ``{{ expr }}`` parts becoming ``%(name)s`` placeholders;
runs without letters (a bullet, a line break, ``{{ line }}``) stay as they are. The old
``text("calendar.…")`` calls become Babel's formatters.

Whatever cannot be converted this way — different logic in one locale, a value written
differently, a wording inside an expression such as ``{{ " since " ~ x }}`` — is reported
as area.block with the reason, and that area is left untouched; edit it by hand (or make
the locales' logic agree) and run again. Then the catalogs are brought up to date with
every template (the same as ``pybabel extract`` + ``pybabel update``; see
docs/translating.md) and the converted area's translations are filled in. Running it
again on the same files gives the same output.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402

from bot.texts import extract_messages  # noqa: E402

PROMPTS = ROOT / "prompts"
REWRITES: list[dict[str, str]] = tomllib.loads(
    (Path(__file__).parent / "text_rewrites.toml").read_text(encoding="utf-8")
).get("rewrite", [])
SOURCE = "en"
TARGETS = ("es", "de")
FIXED_DATE = datetime(2026, 12, 3, tzinfo=UTC)  # headers stay the same on every run
PROJECT = "alliance-checkin"
HOLDER = "the Alliance Check-in contributors"

TOKEN = re.compile(r"({%.*?%}|{{.*?}}|{#.*?#})", re.S)
BLOCK = re.compile(r"{%\s*block\s+(\w+)\s*%}(.*?){%\s*endblock(?:\s+\w+)?\s*%}", re.S)
LETTER = re.compile(r"[^\W\d_]")
CALENDAR_CALL = re.compile(
    r'^text\("calendar\.(date|short_date|month_year|datetime|day)",\s*value=(.+)\)$'
)
WEEKDAY_CALL = re.compile(r'^text\("calendar\.weekday_"\s*~\s*(.+)\)$')
CONDITIONAL = re.compile(r'^"([^"\\]*)" if (.+?)(?: else "([^"\\]*)")?$')
SEPARATOR = re.compile(r'^"(?:[^"\w\\]|\\n)*"(?:\s+if\s+.+)?$')
INCLUDE = re.compile(r'^text\("(\w+)\.(\w+)"\)$')  # another whole text, as it is
HTML_TAG = re.compile(r"<[^>]+>")
PLURAL_IF = re.compile(r"^if (.+?) == 1$")
CONCATENATED = re.compile(r'^\("([^"\\]*)" ~ ([A-Za-z_][\w.]*)\) if (.+?) else ""$')
MONTH_LIST = re.compile(r'^\[(?:"[^"]+",\s*){11}"[^"]+"\]\[(.+)\.month - 1\]$')
FORMATTER = {
    "date": "format_date",
    "short_date": "format_short_date",
    "month_year": "format_month_year",
    "datetime": "format_datetime",
    "day": "format_day",
}


class Unconvertible(Exception):
    """A block whose locales cannot be aligned automatically."""


@dataclass
class Item:
    kind: str  # "tag", "var" or "text"
    source: str

    @property
    def inner(self) -> str:
        """A tag's or expression's content, whitespace normalised."""
        inner = self.source[2:-2]
        return " ".join((inner.strip("+-") if self.kind == "tag" else inner).split())

    @property
    def synthetic(self) -> bool:
        """A tag made from an expression: it neither trims nor strips whitespace."""
        return self.kind == "tag" and self.source.startswith("{%+") and self.source.endswith("+%}")


@dataclass
class Run:
    """The text between two tags (raw source items, before Jinja trims whitespace)."""

    items: list[Item] = field(default_factory=list)


@dataclass
class Message:
    context: str
    msgid: str | tuple[str, str]
    strings: dict[str, str | tuple[str, str]]


def tokenize(body: str) -> list[Item]:
    items: list[Item] = []
    for part in TOKEN.split(body):
        if not part:
            continue
        if part.startswith("{%"):
            items.append(Item("tag", part))
        elif part.startswith("{{"):
            items.extend(unfold(Item("var", part)))
        elif part.startswith("{#"):
            continue  # a comment inside a block is the translator's own; English's stays outside
        else:
            items.append(Item("text", part))
    return items


def unfold(item: Item) -> list[Item]:
    """Wording inside an expression, ``{{ "on" if x else "off" }}``, as if-tags around text.

    Also ``{{ (" since " ~ x) if x else "" }}`` as ``{% if x %} since {{ x }}{% endif %}``.
    """
    match = CONCATENATED.match(item.inner)
    if match and LETTER.search(match.group(1)):
        words, value, condition = match.groups()
        return [
            Item("tag", "{%+ if " + condition + " +%}"),
            Item("text", words),
            Item("var", "{{ " + value + " }}"),
            Item("tag", "{%+ endif +%}"),
        ]
    match = CONDITIONAL.match(item.inner)
    if not match or not LETTER.search(match.group(1) + (match.group(3) or "")):
        return [item]
    then, condition, otherwise = match.groups()
    items = [Item("tag", "{%+ if " + condition + " +%}"), Item("text", then)]
    if otherwise is not None:
        items += [Item("tag", "{%+ else +%}"), Item("text", otherwise)]
    return [*items, Item("tag", "{%+ endif +%}")]


def split(items: list[Item]) -> tuple[list[Item], list[Run]]:
    """Tags, and the runs around them: runs[0] before the first tag … runs[-1] after the last."""
    tags: list[Item] = []
    runs: list[Run] = [Run()]
    for item in items:
        if item.kind == "tag":
            tags.append(item)
            runs.append(Run())
        else:
            runs[-1].items.append(item)
    return tags, runs


def effective(run: Run, after_tag: bool, before_tag: bool) -> list[Item]:
    """The run as Jinja reads it with trim_blocks and lstrip_blocks."""
    items = [Item(i.kind, i.source) for i in run.items]
    if after_tag and items and items[0].kind == "text" and items[0].source.startswith("\n"):
        items[0].source = items[0].source[1:]
    if before_tag and items and items[-1].kind == "text":
        stripped = items[-1].source.rstrip(" \t")
        if stripped.endswith("\n"):
            items[-1].source = stripped
    return [i for i in items if not (i.kind == "text" and not i.source)]


def has_words(items: list[Item]) -> bool:
    return any(i.kind == "text" and LETTER.search(HTML_TAG.sub("", i.source)) for i in items)


def same(a: list[Item], b: list[Item]) -> bool:
    return [(i.kind, i.source if i.kind == "text" else i.inner) for i in a] == [
        (i.kind, i.source if i.kind == "text" else i.inner) for i in b
    ]


def rewrite_expression(expr: str) -> str:
    """Old calendar texts (and lists of month names) become Babel's formatters."""
    match = MONTH_LIST.match(expr)
    if match:
        return f"month_name({match.group(1).strip()})"
    match = CALENDAR_CALL.match(expr)
    if match:
        return f"{FORMATTER[match.group(1)]}({match.group(2).strip()})"
    match = WEEKDAY_CALL.match(expr)
    if match:
        return f"weekday_name({match.group(1).strip()})"
    return expr


def same_value(expr: str) -> str:
    """``label|lower`` and ``label`` are the same value (German keeps its capitals)."""
    return expr.removesuffix("|lower")


def placeholder_name(expr: str) -> str:
    """A readable placeholder for an expression: its last name or attribute."""
    match = CALENDAR_CALL.match(expr)
    if match:
        # text("calendar.date", value=line.latest.due_at.astimezone(tz)) → "due_at"
        expr = match.group(2).strip()
        while re.search(r"\.\w+\([^()]*\)$", expr):
            expr = re.sub(r"\.\w+\([^()]*\)$", "", expr)
        expr = expr.rsplit(".", 1)[-1]
    elif WEEKDAY_CALL.match(expr):
        return "weekday"
    if MONTH_LIST.match(expr):
        return "month"
    include = INCLUDE.match(expr)
    if include:
        return include.group(2)
    if re.fullmatch(r"[A-Za-z_]\w*\|lower", expr):
        return expr.removesuffix("|lower") + "_lower"
    if re.fullmatch(r"[A-Za-z_]\w*", expr):
        name = expr
    else:
        names = re.findall(r"[A-Za-z_]\w*", re.sub(r'"[^"]*"|\'[^\']*\'', "", expr))
        names = [n for n in names if n not in {"text", "loop", "if", "else", "not", "and", "or"}]
        name = names[-1] if names else "value"
    return "value" if name in {"context", "gettext", "ngettext", "_"} else name


def strip_ws(items: list[Item]) -> tuple[str, list[Item], str]:
    """Leading whitespace, the core, trailing whitespace."""
    items = [Item(i.kind, i.source) for i in items]
    lead = trail = ""
    if items and items[0].kind == "text":
        text = items[0].source
        lead = text[: len(text) - len(text.lstrip())]
        items[0].source = text.lstrip()
    if items and items[-1].kind == "text":
        text = items[-1].source
        trail = text[len(text.rstrip()) :]
        items[-1].source = text.rstrip()
    return lead, [i for i in items if not (i.kind == "text" and not i.source)], trail


def message_text(items: list[Item], names: dict[str, str]) -> str:
    """The msgid/msgstr: literal % doubled, values as %(name)s."""
    out = []
    for item in items:
        if item.kind == "text":
            out.append(item.source.replace("%", "%%"))
        else:
            out.append(f"%({names[item.inner]})s")
    return "".join(out)


def convert_block(area: str, block: str, bodies: dict[str, str]) -> tuple[str, list[Message]]:
    """The block's new body, and its messages."""
    context = f"{area}.{block}"
    parsed = {loc: split(tokenize(body)) for loc, body in bodies.items()}
    en_tags, en_runs = parsed[SOURCE]
    for loc in TARGETS:
        tags, _ = parsed[loc]
        if [t.inner for t in tags] != [t.inner for t in en_tags]:
            raise Unconvertible(f"{context}: the logic in {loc} differs from English")
    out: list[str] = []
    messages: list[Message] = []
    count = len(en_runs)

    def after_real_tag(index: int) -> bool:
        # {% block %} opens every body; a tag made from an expression trims nothing.
        return index == 0 or not en_tags[index - 1].synthetic

    def run(index: int) -> dict[str, list[Item]]:
        before = index == count - 1 or not en_tags[index].synthetic
        return {
            loc: effective(parsed[loc][1][index], after_real_tag(index), before) for loc in bodies
        }

    index = 0
    while index < count:
        runs = run(index)
        en = runs[SOURCE]
        if all(not has_words(r) and same(r, en) for r in runs.values()):
            out.append(raw_run(en_runs[index], index))
        else:
            lead, body, trail, message = trans_run(context, runs)
            out.append(emit_run(lead, body, trail, after_real_tag(index)))
            messages.append(message)
        if index == count - 1:
            break
        plural = plural_count(en_tags, index)
        if plural is not None:
            # {% if n == 1 %}one{% else %}other{% endif %}: one message with plural forms.
            lead, body, trail, message = trans_run(
                context, run(index + 1), plural_runs=run(index + 2), count_expr=plural
            )
            if "\n" in lead:
                raise Unconvertible(f"{context}: a plural whose wording starts a new line")
            out.append(emit_run(lead, body, trail, after_real_tag(index + 1)))
            messages.append(message)
            index += 3  # the next run follows {% endtrans %} as it followed {% endif %}
            continue
        out.append(en_tags[index].source)
        index += 1
    merged: dict[str, Message] = {}
    for message in messages:
        known = merged.get(message.msgid)
        if known and known.strings != message.strings:
            raise Unconvertible(f"{context}: the same English twice, translated differently")
        merged[message.msgid] = message
    return "".join(out), list(merged.values())


def plural_count(tags: list[Item], index: int) -> str | None:
    """The count of ``{% if n == 1 %}…{% else %}…{% endif %}`` starting at tags[index]."""
    if index + 2 >= len(tags):
        return None
    match = PLURAL_IF.match(tags[index].inner)
    if match and tags[index + 1].inner == "else" and tags[index + 2].inner == "endif":
        return match.group(1).strip()
    return None


def raw_run(run: Run, index: int) -> str:
    """A run without words, as English had it (calendar calls rewritten)."""
    parts = []
    for item in run.items:
        if item.kind == "var":
            parts.append("{{ " + rewrite_expression(item.inner) + " }}")
        else:
            parts.append(item.source)
    return "".join(parts)


def common_prefix(texts: list[str]) -> str:
    first = texts[0]
    size = 0
    while size < len(first) and all(len(t) > size and t[size] == first[size] for t in texts):
        size += 1
    return first[:size]


def trans_run(
    context: str,
    runs: dict[str, list[Item]],
    plural_runs: dict[str, list[Item]] | None = None,
    count_expr: str | None = None,
) -> tuple[str, str, str, Message]:
    """A run with words: whitespace outside, the trans block, its message.

    With ``plural_runs`` (the other branch of ``{% if n == 1 %}``), one message with a
    singular and a plural form, counted by ``count_expr``.
    """
    forms = [runs] if plural_runs is None else [runs, plural_runs]
    cores_by_form, edges = [], []
    for form in forms:
        cores = {
            loc: merge_text([Item(i.kind, i.source) for i in items]) for loc, items in form.items()
        }
        # Whitespace and separators every locale has at the edges stay outside the message.
        lead = "".join(render_item(i) for i in peel(cores, front=True))
        trail = "".join(render_item(i) for i in reversed(peel(cores, front=False)))
        cores_by_form.append(cores)
        edges.append((lead, trail))
    if len(set(edges)) != 1:
        raise Unconvertible(f"{context}: singular and plural differ around their wording")
    lead, trail = edges[0]
    names: dict[str, str] = {}
    used: set[str] = set()
    # English's values first; a translation may also use a value English leaves out
    # (German naming the client where English says "they"): it is bound in the tag too.
    everything = [i for cores in cores_by_form for loc in (SOURCE, *TARGETS) for i in cores[loc]]
    if count_expr is not None:
        everything.append(Item("var", "{{ " + count_expr + " }}"))
    for item in everything:
        if item.kind == "var" and item.inner not in names:
            base = placeholder_name(item.inner)
            name, n = base, 2
            while name in used:
                name, n = f"{base}{n}", n + 1
            names[item.inner] = name
            used.add(name)
    texts: list[tuple[str, dict[str, str]]] = []
    bodies: list[str] = []
    for cores in cores_by_form:
        en_core = cores[SOURCE]
        if not en_core:
            raise Unconvertible(f"{context}: English has no wording where another locale has")
        en_vars = {i.inner for i in en_core if i.kind == "var"}
        strings = {}
        for loc in TARGETS:
            if not cores[loc]:
                raise Unconvertible(f"{context}: {loc} has no wording where English has")
            if not {same_value(v) for v in en_vars} <= {
                same_value(i.inner) for i in cores[loc] if i.kind == "var"
            }:
                raise Unconvertible(f"{context}: {loc} leaves out a value English puts in")
            strings[loc] = message_text(cores[loc], names)
        texts.append((message_text(en_core, names), strings))
        bodies.append(
            "".join(
                i.source if i.kind == "text" else "{{ " + names[i.inner] + " }}" for i in en_core
            )
        )
    header = "".join(
        f", {name}={rewrite_expression(expr)}" if i else f" {name}={rewrite_expression(expr)}"
        for i, (expr, name) in enumerate(names.items())
    )
    if count_expr is None:
        body = f'{{% trans "{context}"{header} %}}' + bodies[0] + "{% endtrans %}"
        return lead, body, trail, Message(context, texts[0][0], dict(texts[0][1]))
    pluralize = "{% pluralize " + names[count_expr] + " %}"
    body = f'{{% trans "{context}"{header} %}}' + bodies[0] + pluralize + bodies[1]
    body += "{% endtrans %}"
    msgid = (texts[0][0], texts[1][0])
    plural_strings: dict[str, str | tuple[str, str]] = {
        loc: (texts[0][1][loc], texts[1][1][loc]) for loc in TARGETS
    }
    return lead, body, trail, Message(context, msgid, plural_strings)


def is_separator(item: Item) -> bool:
    """``{{ "; " if parts }}``, ``{{ "\\n" }}``: punctuation, not wording."""
    return item.kind == "var" and bool(SEPARATOR.match(item.inner) or INCLUDE.match(item.inner))


def render_item(item: Item) -> str:
    return item.source if item.kind == "text" else "{{ " + rewrite_expression(item.inner) + " }}"


def peel(cores: dict[str, list[Item]], front: bool) -> list[Item]:
    """Take the edge every locale shares (whitespace, separators) off each run."""
    peeled: list[Item] = []
    at = 0 if front else -1
    while all(cores.values()):
        edges = [core[at] for core in cores.values()]
        first = edges[0]
        if is_separator(first) and all(e.kind == "var" and e.inner == first.inner for e in edges):
            for core in cores.values():
                core.pop(at)
            peeled.append(first)
            continue
        if not all(e.kind == "text" for e in edges):
            break
        if front:
            spaces = [e.source[: len(e.source) - len(e.source.lstrip())] for e in edges]
            shared = common_prefix(spaces)
        else:
            spaces = [e.source[len(e.source.rstrip()) :][::-1] for e in edges]
            shared = common_prefix(spaces)[::-1]
        if not shared:
            break
        emptied = False
        for core in cores.values():
            text = core[at].source
            core[at].source = text[len(shared) :] if front else text[: len(text) - len(shared)]
            if not core[at].source:
                core.pop(at)
                emptied = True
        peeled.append(Item("text", shared))
        if not emptied:
            break
    return peeled


def merge_text(items: list[Item]) -> list[Item]:
    merged: list[Item] = []
    for item in items:
        if item.kind == "text" and merged and merged[-1].kind == "text":
            merged[-1] = Item("text", merged[-1].source + item.source)
        elif not (item.kind == "text" and not item.source):
            merged.append(item)
    return merged


def emit_run(lead: str, body: str, trail: str, after_real_tag: bool) -> str:
    """Whitespace around a trans block, so that Jinja reads it as the old run."""
    # The tag before the run eats one newline (trim_blocks), as it did before: give it one.
    out = ("\n" + lead) if lead.startswith("\n") and after_real_tag else lead
    if lead.endswith((" ", "\t")):
        body = body.replace("{% trans", "{%+ trans", 1)  # keep indentation (lstrip_blocks)
    out += body
    if trail.startswith("\n"):
        out += "\n"  # {% endtrans %} eats one newline
    return out + trail


def rewrite(area: str, locale: str, source: str) -> str:
    """Apply scripts/text_rewrites.toml: hand edits that make the locales' logic agree
    (a plural written as ``{% if n == 1 %}…{% else %}…{% endif %}``) before conversion."""
    for entry in REWRITES:
        if entry["area"] != area or entry["locale"] != locale:
            continue
        if source.count(entry["old"]) != 1:
            print(
                f"{area} ({locale}): a rewrite no longer matches: {entry['old'][:60]!r}",
                file=sys.stderr,
            )
            continue
        source = source.replace(entry["old"], entry["new"])
    return source


def convert_area(area: str, skip: frozenset[str] = frozenset()) -> tuple[str, list[Message]]:
    sources = {
        loc: rewrite(area, loc, (PROMPTS / loc / f"{area}.j2").read_text(encoding="utf-8"))
        for loc in (SOURCE, *TARGETS)
    }
    blocks = {
        loc: {m.group(1): m.group(2) for m in BLOCK.finditer(src)} for loc, src in sources.items()
    }
    en_blocks = blocks[SOURCE]
    for loc in TARGETS:
        if set(blocks[loc]) != set(en_blocks):
            raise Unconvertible(f"{area}: {loc} has other blocks than English")
    problems: list[str] = []
    bodies: dict[str, str] = {}
    messages: list[Message] = []
    for block in en_blocks:
        if f"{area}.{block}" in skip:
            print(f"{area}.{block}: left as English, to be written by hand", file=sys.stderr)
            bodies[block] = en_blocks[block]
            continue
        try:
            body, found = convert_block(
                area, block, {loc: blocks[loc][block] for loc in (SOURCE, *TARGETS)}
            )
        except Unconvertible as exc:
            problems.append(str(exc))
            continue
        bodies[block] = body
        messages.extend(found)
    if problems:
        raise Unconvertible("\n".join(problems))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return "{% block " + name + " %}" + bodies[name] + "{% endblock %}"

    return BLOCK.sub(replace, sources[SOURCE]), messages


def extract_template() -> Catalog:
    """What pybabel extract finds in prompts/templates (see babel.cfg)."""
    template = extract_messages(PROMPTS)
    template.copyright_holder = HOLDER
    template.creation_date = FIXED_DATE
    return template


def po_path(locale: str) -> Path:
    return PROMPTS / "locales" / locale / "LC_MESSAGES" / "messages.po"


def write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=76, sort_output=False, ignore_obsolete=True)


def update_catalogs(messages: list[Message]) -> None:
    template = extract_template()
    write_catalog(template, PROMPTS / "locales" / "messages.pot")
    for loc in TARGETS:
        path = po_path(loc)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=loc)
        else:
            catalog = Catalog(
                locale=loc,
                project=PROJECT,
                copyright_holder=HOLDER,
                creation_date=FIXED_DATE,
                fuzzy=False,
            )
        catalog.revision_date = FIXED_DATE
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        for message in messages:
            entry = catalog.get(message.msgid, context=message.context)
            if entry is not None:
                string = message.strings[loc]
                if isinstance(string, tuple):
                    # Languages with more forms (Spanish's "many", for millions) take the plural.
                    string = (string[0],) + (string[1],) * (catalog.num_plurals - 1)
                entry.string = string
                entry.flags.discard("fuzzy")
        catalog.fuzzy = False
        write_catalog(catalog, path)


def record_before(ref: str) -> None:
    """Render every text of ``ref`` (its own code and templates) into the before fixture."""
    with tempfile.TemporaryDirectory() as scratch:
        checkout = Path(scratch) / "before"
        git = ["git", "-C", str(ROOT)]
        subprocess.run([*git, "worktree", "add", "--detach", str(checkout), ref], check=True)
        try:
            subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "texts_before.py"), "--fresh"],
                cwd=checkout,
                check=True,
            )
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(checkout)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("areas", nargs="*")
    parser.add_argument(
        "--remove-old", action="store_true", help="delete prompts/<locale>/<area>.j2"
    )
    parser.add_argument("--check", action="store_true", help="report only, write nothing")
    parser.add_argument(
        "--before-from",
        metavar="REF",
        help="first record every text as the per-locale templates of REF (e.g. main) render "
        "it, into tests/data/texts_before (scripts/texts_before.py in a checkout of REF)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="AREA.BLOCK",
        help="keep this block's English as it is, to be converted by hand",
    )
    args = parser.parse_args()
    if args.before_from and not args.check:
        record_before(args.before_from)
    converted: list[Message] = []
    failed = False
    results: dict[str, str] = {}
    for area in dict.fromkeys(args.areas):  # each once, in the order given
        try:
            template, messages = convert_area(area, frozenset(args.skip))
        except (Unconvertible, FileNotFoundError) as exc:
            print(f"NOT CONVERTED {area}:\n{exc}", file=sys.stderr)
            failed = True
            continue
        print(f"{area}: {len(messages)} messages")
        results[area] = template if template.endswith("\n") else template + "\n"
        converted.extend(messages)
    if args.check:
        return 1 if failed else 0
    # Only now, with every area converted in memory: templates, then catalogs, then the
    # old files (an interruption before the end leaves the old files to convert again).
    for area, template in results.items():
        target = PROMPTS / "templates" / f"{area}.j2"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template, encoding="utf-8")
    update_catalogs(converted)
    if args.remove_old:
        for area in results:
            for loc in (SOURCE, *TARGETS):
                (PROMPTS / loc / f"{area}.j2").unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
