"""status_names.py ROOT - no message in the tree prints a kvplug status as
a bare number. Finds every call of a logging or printing function
(KVP_LOG_*, kvp_logf, printf, fprintf, snprintf, ck_assert_msg,
ck_abort_msg) in the C sources, pairs each conversion of its format with
its argument, and fails on an integer conversion (%d, %i, %u, %x) whose
argument looks like a status (st, status, rc, ret, code, got, ...->status,
results[i]). A status is printed with kvp_status_name() / status_str().
Exceptions are marked in the source with the comment /* bare-status-ok */
on the call's first line. Prints "PASS status names".
"""
import os
import re
import sys

FUNCS = r"(?:KVP_LOG_[EWID]|kvp_logf|printf|fprintf|snprintf|" \
        r"ck_assert_msg|ck_abort_msg)"
CALL = re.compile(r"\b" + FUNCS + r"\s*\(")
STATUSY = re.compile(r"^\(?\s*(?:\(int(?:32_t)?\)\s*)?(?:[a-z_]+(?:->|\.))*"
                     r"(?:st|status|rc|ret|code|got|res|results|gres|"
                     r"sts|stat|result|[a-z_]*_st|st_[a-z_]+)"
                     r"(?:\[[^\]]*\])?(?:\.status)?\s*\)?$")
SPEC = re.compile(r"%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?"
                  r"(hh|h|ll|l|z|j|t|L)?([diouxXcsfFeEgGaApn%])")
INT_FMT = re.compile(r'"\s*(?:PRI[diux](?:32|64|8|16))\s*"')


def split_args(text):
    """Top-level comma split of the text inside a call's parentheses."""
    args, depth, cur, i, n = [], 0, "", 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            q = ch
            j = i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            cur += text[i:j + 1]
            i = j + 1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            i += 1
            continue
        cur += ch
        i += 1
    args.append(cur.strip())
    return args, i


def literal(arg):
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', INT_FMT.sub('"%d"', arg))
    return "".join(parts) if parts else None


def check_file(path, bad):
    src = open(path, encoding="utf-8", errors="replace").read()
    src = re.sub(r"//[^\n]*", "", src)
    for m in CALL.finditer(src):
        line_no = src.count("\n", 0, m.start()) + 1
        line = src[src.rfind("\n", 0, m.start()) + 1:src.find("\n",
                                                                 m.end())]
        if "bare-status-ok" in line:
            continue
        args, _ = split_args(src[m.end():])
        fi = next((k for k, a in enumerate(args) if literal(a) is not None
                   and a.lstrip().startswith('"')), None)
        if fi is None:
            continue
        fmt = literal(args[fi])
        rest = args[fi + 1:]
        k = 0
        for s in SPEC.finditer(fmt):
            conv = s.group(2)
            if conv == "%":
                continue
            if "*" in s.group(0):
                k += s.group(0).count("*")
            if k >= len(rest):
                break
            arg = rest[k]
            k += 1
            if conv in "diuxX" and STATUSY.match(arg):
                bad.append("%s:%d: '%s' prints %s as a number" %
                           (path, line_no, fmt[:60], arg))


def main(root):
    bad = []
    for top in ("abi", "common", "proto", "plugin", "server", "transports",
                "discovery", "tools", "conformance", "examples", "bench",
                "tests"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith(".c") or f.endswith(".h"):
                    check_file(os.path.join(d, f), bad)
    for b in bad:
        print(b)
    if bad:
        print("FAIL: %d message(s) print a status as a bare number; use "
              "kvp_status_name()/status_str()" % len(bad))
        return 1
    print("PASS status names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
