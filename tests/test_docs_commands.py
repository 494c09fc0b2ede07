"""Every command the README and docs/ give takes the flags it shows: a flag
renamed or removed in a script, benchmark or tool fails here, not in a
reader's shell."""

import re

from conftest import ROOT

from chapter2.run import flags

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A command in a code block or in `backticks`: up to the end of the line, a backtick, a table's
# bar, a comment or a shell operator.
COMMAND = re.compile(
    r"python (?:-m (chapter2\.\w+)|((?:bench/)?(?:listings/)?[\w/]+\.py))((?: +[^`|#\n;&]+)?)"
)
FLAG = re.compile(r"(?<!\S)(--[a-z][a-z0-9-]*)")


def flags_of(program):
    """The long flags a program of the repository accepts, read from its source: a script's
    from its help (constants and run options), any other's from its argparse calls."""
    path = ROOT / program
    if re.fullmatch(r"Chapter_2_[1-5]\.py", program):
        return {"--help", *FLAG.findall(flags.help_from_source(path))}
    return {"--help", *re.findall(r"[\"'](--[a-z][a-z0-9-]*)[\"']", path.read_text())}


def documented_commands():
    """(where, program, flags) of every `python ...` command in the docs."""
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for m in COMMAND.finditer(line):
                module, path, rest = m.groups()
                program = module.replace(".", "/") + ".py" if module else path
                # chapter2.board hands its flags to TensorBoard
                if (ROOT / program).is_file() and program != "chapter2/board.py":
                    yield f"{doc.name}:{number}", program, FLAG.findall(rest)


def test_every_documented_command_takes_its_flags():
    commands = list(documented_commands())
    programs = {program for _, program, _ in commands}
    # the scripts, a tool and the benchmarks are all among what the docs show
    assert {f"Chapter_2_{n}.py" for n in range(1, 6)} <= programs
    assert "chapter2/compare.py" in programs and any(p.startswith("bench/") for p in programs)
    known = {program: flags_of(program) for program in programs}
    wrong = [
        f"{where}: {program} {flag}"
        for where, program, given in commands
        for flag in given
        if flag not in known[program]
    ]
    assert not wrong, "documented flags the program does not take:\n" + "\n".join(wrong)


def test_a_removed_flag_is_found():
    # The check itself: a flag no script has is reported.
    assert "--offline" in flags_of("Chapter_2_1.py")
    assert "--offline" not in flags_of("Chapter_2_2.py")
    assert "--no-such-flag" not in flags_of("bench/fault_injection.py")
