#!/usr/bin/env python3
"""Writes scep-agent(8) and scep-agent.conf(5) from what cannot drift from them: the binary's own output
(`--help`, `help COMMAND` for every command it lists, `version`) and docs/config.md.

    Scripts/make-manpages.py --out DIR [--date YYYY-MM-DD] -- BINARY [EMULATOR ARGS BEFORE IT...]

The command after `--` is how to run the binary (an ARM build goes behind qemu-aarch64-static -L PREFIX).
Commands and exit codes come from the overview's "commands:" and "exit codes:" tables."""
import argparse
import datetime
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Where the package puts things (Scripts/package-deb.sh): the pages name them.
CONFIG_PATH = "/etc/scep-agent/scep-agent.conf"
STATE_DIR = "/var/lib/scep-agent"
UNIT_PATH = "/lib/systemd/system/scep-agent.service"
BOARDS_DIR = "/usr/share/scep-agent/boards"
# Ragged right, no hyphenation: options and paths must not be split or stretched (groff -ww warns of
# lines it cannot adjust, such as a long pkcs11: URI).
NO_JUSTIFY = [".ad l", ".nh"]
OPTION_COLUMN = 20  # a help line indented this far continues the option above it


def run(command, *args):
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        sys.exit(f"make-manpages: '{' '.join([*command, *args])}' exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def escape(text):
    """Text for a roff line: backslashes escaped, options' hyphens as minus signs, no line starting a request."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w-])(--?)(?=[A-Za-z])", lambda match: "\\-" * len(match.group(1)), text)
    return "\\&" + text if text.startswith((".", "'")) else text


def markdown_inline(text):
    """`code` in bold, [text](link) as its text, then escaped."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    parts = re.split(r"`([^`]*)`", text)
    return "".join(f"\\fB{escape(part)}\\fR" if index % 2 else escape(part) for index, part in enumerate(parts))


def paragraphs(lines):
    """Groups text lines into paragraphs at blank lines."""
    block = []
    for line in lines + [""]:
        if line.strip():
            block.append(line.strip())
        elif block:
            yield " ".join(block)
            block = []


def parse_overview(text):
    """(tagline, [(command, summary)], [(code, status, meaning)]) from `scep-agent --help`."""
    lines = text.splitlines()
    tagline = lines[0].split(": ", 1)[1] if ": " in lines[0] else lines[0]
    commands, exit_codes, section = [], [], None
    for line in lines[1:]:
        if not line.strip():
            section = None
        elif line.strip() == "commands:":
            section = "commands"
        elif line.strip() == "exit codes:":
            section = "exit codes"
        elif section == "commands" and (match := re.match(r"^\s+([a-z][a-z0-9-]*)\s{2,}(\S.*)$", line)):
            commands.append((match.group(1), match.group(2)))
        elif section == "exit codes" and (match := re.match(r"^\s*(\d+)\s+(\S+)\s+(\S.*)$", line)):
            exit_codes.append(match.groups())
    if not commands:
        sys.exit("make-manpages: the binary's --help lists no commands under 'commands:'")
    return tagline, commands, exit_codes


def command_section(name, summary, help_text):
    """One command's help as roff: usage lines unfilled, paragraphs, then each option as a tagged paragraph."""
    out = [f".SS {name}", escape(summary[0].upper() + summary[1:]) + "."]
    usage, text, options = [], [], []
    in_usage = False
    for line in help_text.splitlines():
        if line.startswith("usage: "):
            in_usage = True
            usage.append(line[len("usage: "):])
        elif in_usage and line.strip():
            usage.append(line)
        elif not line.strip():
            in_usage = False
            text.append("")
        elif re.match(r"^[a-z ]+:$", line.strip()):
            continue  # a heading such as "options:"
        elif (match := re.match(r"^ {1,4}(-\S.*?)(?: {2,}(\S.*))?$", line)):
            options.append([match.group(1), match.group(2) or ""])
        elif options and len(line) - len(line.lstrip()) >= OPTION_COLUMN:
            options[-1][1] = (options[-1][1] + " " + line.strip()).strip()
        else:
            text.append(line)
    if usage:
        # Usage lines keep their own breaks; continuations are indented under the first.
        out += [".PP", ".nf", escape(usage[0])] + [escape("    " + line.strip()) for line in usage[1:]] + [".fi"]
    for paragraph in paragraphs(text):
        out += [".PP", escape(paragraph)]
    for option, description in options:
        out += [".TP", f"\\fB{escape(option)}\\fR", escape(description) if description else "\\&"]
    return out


def scep_agent_page(binary, version, date):
    tagline, commands, exit_codes = parse_overview(run(binary, "--help"))
    if not exit_codes:
        sys.exit("make-manpages: the binary's --help lists no exit codes under 'exit codes:'")
    out = [
        f'.TH SCEP\\-AGENT 8 "{date}" "scep-agent {version}" "System Administration"', *NO_JUSTIFY,
        ".SH NAME", "scep-agent \\- " + escape(tagline),
        ".SH SYNOPSIS", ".B scep\\-agent", ".I COMMAND", "[\\fIOPTIONS\\fR]", ".br",
        ".B scep\\-agent", ".I COMMAND", ".B \\-\\-help",
        ".SH DESCRIPTION",
        "scep\\-agent makes a key, enrolls it with a certificate authority over SCEP (RFC 8894) and installs key, "
        "certificate and CA chain as one set.",
        "The one\\-shot commands take everything on the command line; the daemon commands read a configuration file, "
        "described in",
        ".BR scep\\-agent.conf (5).",
        ".PP",
        "Each command below is documented as",
        ".B scep\\-agent",
        ".I COMMAND",
        ".B \\-\\-help",
        "prints it.",
        ".SH COMMANDS",
    ]
    for name, summary in commands:
        out += command_section(name, summary, run(binary, "help", name))
    out += [".SH EXIT STATUS"]
    for code, status, meaning in exit_codes:
        out += [".TP", f"\\fB{code}\\fR ({escape(status)})", escape(meaning)]
    out += files_and_see_also("scep\\-agent.conf (5)")
    return "\n".join(out) + "\n"


def files_and_see_also(other_page):
    return [
        ".SH FILES",
        ".TP", f"\\fI{escape(CONFIG_PATH)}\\fR", "The configuration the systemd unit runs the daemon with.",
        ".TP", f"\\fI{escape(STATE_DIR)}\\fR", "The daemon's state (mode 0700); removed when the package is purged.",
        ".TP", f"\\fI{escape(UNIT_PATH)}\\fR",
        "The systemd unit; the package installs it but neither enables nor starts it.",
        ".TP", f"\\fI{escape(BOARDS_DIR)}\\fR", "Board profiles: example configurations for supported boards.",
        ".SH SEE ALSO",
        ".BR " + other_page + ",",
        ".BR systemctl (1),",
        ".BR wpa_supplicant (8)",
    ]


def config_page(version, date):
    """docs/config.md as roff: its intro, then each "## section" with its key table as tagged paragraphs."""
    lines = (ROOT / "docs" / "config.md").read_text().splitlines()
    title = lines[0].lstrip("# ").strip()
    out = [
        f'.TH SCEP\\-AGENT.CONF 5 "{date}" "scep-agent {version}" "File Formats"', *NO_JUSTIFY,
        ".SH NAME", "scep-agent.conf \\- " + escape(title),
        ".SH SYNOPSIS", f".I {escape(CONFIG_PATH)}",
        ".SH DESCRIPTION",
    ]
    text, header = [], None  # header: the column names of the table being read, else None

    def flush_text():
        for paragraph in paragraphs(text):
            out.extend([".PP", markdown_inline(paragraph)])
        text.clear()

    for line in lines[1:]:
        if not line.startswith("|"):
            header = None
        if line.startswith("## "):
            flush_text()
            if ".SH SECTIONS AND KEYS" not in out:
                out.append(".SH SECTIONS AND KEYS")
            out.append(".SS " + escape(line[3:].replace("`", "")))
        elif line.startswith("|"):
            flush_text()
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            if header is None:
                header = [cell.lower() for cell in cells]
            elif not set("".join(cells)) <= set("-: "):  # not the |---| line
                row = dict(zip(header, cells))
                out += [".TP", markdown_inline(row.get("key", cells[0])), markdown_inline(row.get("meaning", cells[1]))]
                if "default" in row:
                    out += [".br", "Default: " + markdown_inline(row["default"]) + "."]
        else:
            text.append(line)
    flush_text()
    out += files_and_see_also("scep\\-agent (8)")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("binary", nargs="+", help="the binary, after any emulator and its arguments")
    options = parser.parse_args()
    version_line = run(options.binary, "version").strip()
    if not version_line.startswith("scep-agent "):
        sys.exit(f"make-manpages: 'version' printed {version_line!r}, not 'scep-agent VERSION'")
    version = version_line.split()[1]
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "scep-agent.8").write_text(scep_agent_page(options.binary, version, options.date))
    (options.out / "scep-agent.conf.5").write_text(config_page(version, options.date))


if __name__ == "__main__":
    main()
