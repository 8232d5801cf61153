#!/usr/bin/env python3
"""check_completion.py SRCDIR SHMQ SHMQ_STAT - the shell completions of
tools/completion/ load and are in step with the programs.

Each file is parsed by its shell (bash -n, zsh -n, fish -n) when that shell
is installed. The commands, their other names and every option come from
the programs' own help (shmq --help, shmq help CMD, shmq-stat --help), so
that an option added there and forgotten here fails. bash and fish are
asked what they complete after "shmq CMD --" and must offer exactly the
options of that command; zsh's files must name each one. Exit 0, 1 on a
failure, 77 when no shell at all is installed.
"""
import os
import re
import shutil
import subprocess
import sys

src, shmq, shmq_stat = sys.argv[1:4]
comp = os.path.join(src, "tools", "completion")
failed = []
GLOBAL = {"--socket", "--help", "--version"}


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def help_text(*argv):
    r = run(*argv)
    if r.returncode != 0:
        sys.exit("FAIL: %s exited %d" % (" ".join(argv), r.returncode))
    return r.stdout


def defined_options(text):
    """The long option each definition line of a help text starts with."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"\s+(?:-\w, )?(--[a-z][a-z-]*)", line)
        if m:
            opts.add(m.group(1))
    return opts


def commands():
    """{command: [other names]} from the overview's Commands section."""
    cmds, inside = {}, False
    for line in help_text(shmq, "--help").splitlines():
        if line.startswith("Commands"):
            inside = True
            continue
        if inside and not line.strip():
            break
        if inside:
            name = line.split()[0]
            m = re.search(r"\(([a-z, ]+)\)$", line)
            cmds[name] = [a.strip() for a in m.group(1).split(",")] if m else []
    return cmds


def check(what, got, want):
    if got != want:
        failed.append(what)
        print("FAIL: %s: missing %s, extra %s" % (what, sorted(want - got), sorted(got - want)))
    else:
        print("ok: %s" % what)


cmds = commands()
names = set(cmds) | {a for al in cmds.values() for a in al}
if not {"ls", "pub", "sub", "help"} <= names or "list" not in names:
    sys.exit("FAIL: no commands or aliases in shmq --help: %s" % sorted(names))
cmd_opts = {c: defined_options(help_text(shmq, "help", c)) | GLOBAL for c in cmds}
# shmq-stat's help names --tcp-exposes-all inside --listen's line: every option it names
stat_opts = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text(shmq_stat, "--help")))
if len(stat_opts) < 10 or "--sub" in cmd_opts["sub"] or "--wait" not in cmd_opts["sub"]:
    sys.exit("FAIL: the help texts did not parse: %s %s" % (stat_opts, cmd_opts["sub"]))

shells = {s: shutil.which(s) for s in ("bash", "zsh", "fish")}
files = {"bash": ["shmq.bash", "shmq-stat.bash"], "zsh": ["_shmq", "_shmq-stat"],
         "fish": ["shmq.fish", "shmq-stat.fish"]}
for shell, fs in files.items():
    for f in fs:
        path = os.path.join(comp, f)
        if not shells[shell]:
            print("skip: %s -n %s: %s is not installed" % (shell, f, shell))
            continue
        r = run(shells[shell], "-n", path)
        if r.returncode != 0 or r.stderr:
            failed.append(f)
            print("FAIL: %s -n %s: %s" % (shell, f, r.stderr))
        else:
            print("ok: %s -n %s" % (shell, f))
if not any(shells.values()):
    print("no shell to check the completions with: skipping")
    sys.exit(77)

# every name in each file (zsh has no way to ask it outside a terminal)
everything = {"shmq": names | set().union(*cmd_opts.values()), "shmq-stat": stat_opts}
for f, prog in (("_shmq", "shmq"), ("_shmq-stat", "shmq-stat"), ("shmq.bash", "shmq"),
                ("shmq-stat.bash", "shmq-stat"), ("shmq.fish", "shmq"),
                ("shmq-stat.fish", "shmq-stat")):
    text = open(os.path.join(comp, f)).read()
    if f.endswith(".fish"):  # fish spells --name as "-l name"
        text = re.sub(r"-l ([a-z][a-z-]*)", r"--\1", text)
    words = set(re.findall(r"(?<![\w-])--?[a-z][a-z0-9-]*|\b[a-z]+\b", text))
    check("%s names every command and option of %s" % (f, prog),
          everything[prog] & words, everything[prog])

BASH = r'''
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
"$FN"
printf '%s\n' "${COMPREPLY[@]}"
'''


def bash_complete(path, fn, *words):
    r = subprocess.run(["bash", "-c", BASH, "bash", path] + list(words), capture_output=True,
                       text=True, env=dict(os.environ, FN=fn), check=False)
    return set(r.stdout.split())


def fish_complete(path, line):
    r = run("fish", "--no-config", "-c", "source %s; complete -C '%s'" % (path, line))
    return {l.split("\t")[0] for l in r.stdout.splitlines() if l}


if shells["bash"]:
    bash_shmq = os.path.join(comp, "shmq.bash")
    check("bash: shmq <TAB> offers every command", bash_complete(bash_shmq, "_shmq", "shmq", ""),
          names)
    for c, aliases in cmds.items():
        for name in [c] + aliases:
            check("bash: shmq %s --<TAB>" % name,
                  bash_complete(bash_shmq, "_shmq", "shmq", name, "--"), cmd_opts[c])
    check("bash: shmq-stat --<TAB>",
          bash_complete(os.path.join(comp, "shmq-stat.bash"), "_shmq_stat", "shmq-stat", "--"),
          stat_opts)
if shells["fish"]:
    fish_shmq = os.path.join(comp, "shmq.fish")
    for c, aliases in cmds.items():
        for name in [c] + aliases:
            got = {o for o in fish_complete(fish_shmq, "shmq %s --" % name) if o.startswith("--")}
            check("fish: shmq %s --<TAB>" % name, got, cmd_opts[c])
    got = fish_complete(os.path.join(comp, "shmq-stat.fish"), "shmq-stat --")
    check("fish: shmq-stat --<TAB>", {o for o in got if o.startswith("--")}, stat_opts)

print("%d failed" % len(failed))
sys.exit(1 if failed else 0)
