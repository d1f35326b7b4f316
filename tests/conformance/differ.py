#!/usr/bin/python3
"""The differential test's comparison half: sends every query of tests/conformance/corpus.txt to
o365-ldap and to OpenLDAP slapd (holding o365-ldap's own export-ldif) with python-ldap, and compares
result codes, DN sets, attribute sets and values under each attribute's matching rule (taken from
slapd's cn=Subschema). Differences covered by a rule in tests/conformance/accepted.txt are
accepted; any other one fails the run. Also checks the exported entries against slapd's schema.

Run by tests/conformance/differential.sh, which starts both servers and passes their coordinates:

  differ.py --ours URI DN PW --slapd URI DN PW --base DN --ldif FILE --corpus FILE
            --accepted FILE [--load-status FILE] [--markdown FILE] [--verbose] [--only REGEX]

Exit status: 0 when every difference is accepted and every exported entry loaded with schema
checking on; 1 otherwise; 2 on a usage or setup error.
"""
import argparse
import configparser
import fnmatch
import re
import sys
import time
import unicodedata
from collections import OrderedDict, defaultdict

import ldap
import ldap.dn
import ldap.schema
import ldif
from ldap.controls import SimplePagedResultsControl

SCOPES = {"base": ldap.SCOPE_BASE, "one": ldap.SCOPE_ONELEVEL, "sub": ldap.SCOPE_SUBTREE}
RESULT_NAMES = {
    0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
    4: "sizeLimitExceeded", 5: "compareFalse", 6: "compareTrue", 7: "authMethodNotSupported",
    8: "strongerAuthRequired", 11: "adminLimitExceeded", 12: "unavailableCriticalExtension",
    13: "confidentialityRequired", 16: "noSuchAttribute", 17: "undefinedAttributeType",
    18: "inappropriateMatching", 19: "constraintViolation", 21: "invalidAttributeSyntax",
    32: "noSuchObject", 34: "invalidDNSyntax", 48: "inappropriateAuthentication",
    49: "invalidCredentials", 50: "insufficientAccessRights", 51: "busy", 52: "unavailable",
    53: "unwillingToPerform", 80: "other",
}
MSGID_LIMIT = 60
# Outcomes that are not an LDAP result code.
DISCONNECTED = "disconnected"   # the server closed the connection (Notice of Disconnection)
TIMEOUT = "timeout"


# ---------------------------------------------------------------------------------------------
# The corpus

class Query:
    """One line of the corpus (after {each} expansion)."""

    def __init__(self, lineno, section, kind, text, base, scope=None, filt=None, attrs=None,
                 opts=None, attr=None, value=None):
        self.lineno, self.section, self.kind, self.text = lineno, section, kind, text
        self.base, self.scope, self.filt, self.attrs = base, scope, filt, attrs or []
        self.opts = opts or {}
        self.attr, self.value = attr, value      # compare only

    def __repr__(self):
        return f"corpus.txt:{self.lineno}: {self.text}"


def unescape_value(s):
    """RFC 4515-style \\XX escapes in a compare value -> bytes (other characters as UTF-8)."""
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 2 < len(s) + 1 and re.fullmatch(r"[0-9a-fA-F]{2}", s[i + 1:i + 3] or ""):
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            out += s[i].encode("utf-8")
            i += 1
    return bytes(out)


def parse_corpus(path, base, every_dn):
    """Lines: `SCOPE BASE | FILTER | ATTRS [| OPTIONS]` or `compare DN | ATTR | VALUE`.
    `# == name` starts a section; other `#` lines and blank lines are comments. {base} is the
    tenant's base DN; a line whose BASE is {each} stands for one query per exported entry."""
    queries = []
    section = "(no section)"
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("# =="):
                section = line[4:].strip(" =")
                continue
            if line.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ")]
            head = parts[0].split(None, 1)
            if len(head) != 2 and not (len(head) == 1 and head[0] in SCOPES):
                raise SystemExit(f"{path}:{lineno}: expected `SCOPE BASE | FILTER | ATTRS [| OPTIONS]`")
            kind = head[0]
            target = head[1] if len(head) == 2 else ""
            if target == '""':
                target = ""
            if kind == "compare":
                if len(parts) != 3:
                    raise SystemExit(f"{path}:{lineno}: expected `compare DN | ATTR | VALUE`")
                dn = target.replace("{base}", base)
                queries.append(Query(lineno, section, "compare", line.replace("{base}", base), dn,
                                     attr=parts[1], value=unescape_value(parts[2].replace("{base}", base))))
                continue
            if kind not in SCOPES:
                raise SystemExit(f"{path}:{lineno}: unknown scope {kind!r} (base, one, sub or compare)")
            if len(parts) < 3 or len(parts) > 4:
                raise SystemExit(f"{path}:{lineno}: expected `SCOPE BASE | FILTER | ATTRS [| OPTIONS]`")
            filt = parts[1].replace("{base}", base)
            attrs = parts[2].replace("{base}", base).split() if parts[2] not in ("", "-") else []
            opts = {}
            if len(parts) == 4:
                # options are space-separated `key=value` words; slapd-filter= takes the rest
                rest = parts[3]
                m = re.search(r"\bslapd-filter=(.*)$", rest)
                if m:
                    opts["slapd-filter"] = m.group(1).strip().replace("{base}", base)
                    rest = rest[:m.start()]
                for word in rest.split():
                    k, _, v = word.partition("=")
                    if k not in ("sizelimit", "page", "typesonly", "repeat"):
                        raise SystemExit(f"{path}:{lineno}: unknown option {k!r}")
                    opts[k] = int(v) if v else True
            bases = every_dn if target == "{each}" else [target.replace("{base}", base)]
            for b in bases:
                text = line if target != "{each}" else line.replace("{each}", b, 1)
                queries.append(Query(lineno, section, kind, text.replace("{base}", base), b,
                                     scope=SCOPES[kind], filt=filt, attrs=attrs, opts=opts))
    return queries


# ---------------------------------------------------------------------------------------------
# Accepted differences

class Rule:
    KEYS = {"kinds", "attrs", "query", "dn", "reason", "export-lacks", "fallback-only", "asked"}
    ASKED = {"star", "plus", "named"}
    KINDS = {"code", "dn-only-ours", "dn-only-slapd", "count", "attr-only-ours", "attr-only-slapd",
             "values", "paging", "compare"}

    def __init__(self, title, sec, path):
        unknown = set(sec) - self.KEYS
        if unknown:
            raise SystemExit(f"{path}: [{title}]: unknown key(s) {sorted(unknown)}")
        if not sec.get("reason", "").strip():
            raise SystemExit(f"{path}: [{title}]: every accepted difference needs a reason")
        self.title = title
        self.reason = " ".join(sec["reason"].split())
        self.kinds = set(sec.get("kinds", "*").split())
        bad = self.kinds - self.KINDS - {"*"}
        if bad:
            raise SystemExit(f"{path}: [{title}]: unknown kind(s) {sorted(bad)}; known: {sorted(self.KINDS)}")
        self.attrs = [a.lower() for a in sec.get("attrs", "*").split()]
        self.query = re.compile(sec["query"]) if sec.get("query") else None
        self.dn = re.compile(sec["dn"], re.I) if sec.get("dn") else None
        self.export_lacks = sec.get("export-lacks", "").strip().lower() or None
        self.fallback_only = sec.get("fallback-only", "no").strip().lower() in ("yes", "true")
        self.asked = set(sec.get("asked", "").split())
        if self.asked - self.ASKED:
            raise SystemExit(f"{path}: [{title}]: asked takes {sorted(self.ASKED)}")
        self.used = 0

    def covers(self, q, diff, ctx):
        kind, attr, dn = diff.kind, diff.attr, diff.dn
        if self.fallback_only and not ctx.fallback:
            return False
        if self.asked:
            # How the query's attribute list asked for the attribute the difference is about.
            if attr is None:
                return False
            listed = {ctx.schema.canonical(a).lower() for a in q.attrs}
            how = set()
            if attr.lower() in listed:
                how.add("named")
            else:
                if not q.attrs or "*" in q.attrs:
                    how.add("star")
                if "+" in q.attrs:
                    how.add("plus")
            if not how & self.asked:
                return False
        if self.export_lacks:
            # Only differences about entries that have no such attribute in the export.
            if dn is None:
                return False
            attrs = ctx.export.get(ctx.schema.norm_dn(dn))
            if attrs is None or any(a.lower() == self.export_lacks for a in attrs):
                return False
        if "*" not in self.kinds and kind not in self.kinds:
            return False
        if "*" not in self.attrs:
            if attr is None or not any(fnmatch.fnmatch(attr.lower(), a) for a in self.attrs):
                return False
        if self.query and not self.query.search(q.text):
            return False
        if self.dn and not (dn is not None and self.dn.search(dn)):
            return False
        return True


def parse_accepted(path):
    cp = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=("#",),
                                   strict=True)
    cp.optionxform = str
    with open(path, encoding="utf-8") as f:
        cp.read_file(f)
    return [Rule(title, cp[title], path) for title in cp.sections()]


# ---------------------------------------------------------------------------------------------
# Schema and matching rules

class Schema:
    """Attribute types and object classes of one server's cn=Subschema, with the normalisers
    used to compare values."""

    def __init__(self, entry):
        self.sub = ldap.schema.SubSchema(entry, check_uniqueness=0)
        self.at = {}      # lower name or oid -> AttributeType
        self.oc = {}      # lower name or oid -> ObjectClass
        for oid in self.sub.listall(ldap.schema.AttributeType):
            t = self.sub.get_obj(ldap.schema.AttributeType, oid)
            for key in (t.oid,) + tuple(t.names or ()):
                self.at[key.lower()] = t
        for oid in self.sub.listall(ldap.schema.ObjectClass):
            c = self.sub.get_obj(ldap.schema.ObjectClass, oid)
            for key in (c.oid,) + tuple(c.names or ()):
                self.oc[key.lower()] = c

    def attr(self, name):
        return self.at.get(name.split(";", 1)[0].lower())

    def inherited(self, t, field):
        seen = 0
        while t is not None and seen < 20:
            v = getattr(t, field)
            if v:
                return v
            t = self.at.get(t.sup[0].lower()) if t.sup else None
            seen += 1
        return None

    def canonical(self, desc):
        """'CN;Lang-EN' -> 'cn;lang-en': the type's first NAME (aliases folded), options lower-cased."""
        base, _, opts = desc.partition(";")
        t = self.attr(base)
        name = t.names[0] if t is not None and t.names else base.lower()
        if opts:
            name += ";" + ";".join(sorted(o.lower() for o in opts.split(";")))
        return name

    def oid_of(self, name):
        n = name.strip().lower()
        if n in self.oc:
            return self.oc[n].oid
        if n in self.at:
            return self.at[n].oid
        return n

    def equality(self, desc):
        t = self.attr(desc)
        return (self.inherited(t, "equality") or "").lower() if t is not None else None

    def normaliser(self, desc):
        rule = self.equality(desc)
        if rule is None or rule == "":
            return None
        return RULES.get(rule) or RULES.get(self.rule_name(rule)) or (lambda s, v: v)

    def rule_name(self, oid):
        for k, v in MATCHING_RULE_OIDS.items():
            if v == oid:
                return k
        return oid

    def norm_value(self, desc, v):
        f = self.normaliser(desc)
        if f is None:
            return ("bytes", v)
        try:
            return f(self, v)
        except (UnicodeDecodeError, ValueError, ldap.DECODING_ERROR):
            return ("invalid", v)

    def norm_dn(self, dn):
        """distinguishedNameMatch: attribute types by OID, values by their equality rule, the
        AVAs of a multi-valued RDN in order."""
        if isinstance(dn, bytes):
            dn = dn.decode("utf-8")
        try:
            rdns = ldap.dn.str2dn(dn)
        except ldap.DECODING_ERROR:
            return ("invalid-dn", dn)
        out = []
        for rdn in rdns:
            avas = []
            for typ, val, _ in rdn:
                v = val.encode("utf-8") if isinstance(val, str) else val
                avas.append((self.oid_of(typ), repr(self.norm_value(typ, v))))
            out.append(tuple(sorted(avas)))
        return tuple(out)


def prep(v, fold):
    """RFC 4518 string preparation, near enough: NFKC, case folding (RFC 3454 B.2 is close to
    Unicode full case folding, which maps ß to ss), insignificant space handling."""
    s = v.decode("utf-8") if isinstance(v, bytes) else v
    s = unicodedata.normalize("NFKC", s)
    if fold:
        s = unicodedata.normalize("NFKC", s.casefold())
    return re.sub(r" +", " ", s).strip(" ")


def _int(schema, v):
    s = v.decode("ascii")
    if not re.fullmatch(r"-?(0|[1-9][0-9]*)", s):
        raise ValueError(s)
    return ("int", int(s))


RULES = {
    "caseignorematch": lambda sch, v: ("ci", prep(v, True)),
    "caseignoreia5match": lambda sch, v: ("ci", prep(v, True)),
    "caseignoreorderingmatch": lambda sch, v: ("ci", prep(v, True)),
    "caseexactmatch": lambda sch, v: ("ce", prep(v, False)),
    "caseexactia5match": lambda sch, v: ("ce", prep(v, False)),
    "caseexactorderingmatch": lambda sch, v: ("ce", prep(v, False)),
    "numericstringmatch": lambda sch, v: ("num", v.decode("ascii").replace(" ", "")),
    "telephonenumbermatch": lambda sch, v: ("tel", re.sub(r"[ \-]", "", prep(v, True))),
    "integermatch": _int,
    "booleanmatch": lambda sch, v: ("bool", v.decode("ascii").upper()),
    "octetstringmatch": lambda sch, v: ("bytes", v),
    "uuidmatch": lambda sch, v: ("uuid", v.decode("ascii").lower()),
    "distinguishednamematch": lambda sch, v: ("dn", sch.norm_dn(v)),
    "uniquemembermatch": lambda sch, v: ("dn", sch.norm_dn(v)),
    "objectidentifiermatch": lambda sch, v: ("oid", sch.oid_of(v.decode("utf-8"))),
    "generalizedtimematch": lambda sch, v: ("time", v.decode("ascii")),
    "objectidentifierfirstcomponentmatch": lambda sch, v: ("bytes", v),
}
MATCHING_RULE_OIDS = {
    "caseignorematch": "2.5.13.2", "caseexactmatch": "2.5.13.5", "integermatch": "2.5.13.14",
    "distinguishednamematch": "2.5.13.1", "objectidentifiermatch": "2.5.13.0",
    "booleanmatch": "2.5.13.13", "octetstringmatch": "2.5.13.17", "caseignoreia5match":
    "1.3.6.1.4.1.1466.109.114.2", "caseexactia5match": "1.3.6.1.4.1.1466.109.114.1",
    "telephonenumbermatch": "2.5.13.20", "uuidmatch": "1.3.6.1.1.16.2",
    "generalizedtimematch": "2.5.13.27",
}


# ---------------------------------------------------------------------------------------------
# Talking to a server

class Server:
    def __init__(self, label, uri, dn, pw):
        self.label, self.uri, self.dn, self.pw = label, uri, dn, pw
        self.conn = None
        self.reconnects = 0
        self.last_msgid = 0

    def connect(self):
        c = ldap.initialize(self.uri)
        c.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        c.set_option(ldap.OPT_REFERRALS, 0)
        c.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        c.set_option(ldap.OPT_TIMEOUT, 10)
        c.simple_bind_s(self.dn, self.pw)
        self.conn = c

    def ensure(self, fresh=False):
        # A new connection once message ids pass MSGID_LIMIT: a server that fails long sessions
        # then fails the `repeat=` probes of the corpus, not every query after them.
        if self.conn is not None and (fresh or self.last_msgid >= MSGID_LIMIT):
            try:
                self.conn.unbind_ext_s()
            except ldap.LDAPError:
                pass
            self.conn = None
        if self.conn is None:
            self.connect()
            self.last_msgid = 0

    def drop(self):
        try:
            if self.conn is not None:
                self.conn.unbind_ext_s()
        except ldap.LDAPError:
            pass
        self.conn = None
        self.reconnects += 1

    def subschema(self):
        self.ensure()
        dn = self.conn.search_subschemasubentry_s("") or "cn=Subschema"
        return dn, self.conn.read_subschemasubentry_s(dn, attrs=["attributeTypes", "objectClasses",
                                                                   "matchingRules", "ldapSyntaxes"])


class Answer:
    def __init__(self):
        self.code = None          # int result code, or DISCONNECTED/TIMEOUT/"client:<error>"
        self.entries = OrderedDict()   # dn (as returned) -> {attr desc: [values]}
        self.pages = []           # page sizes for paged searches
        self.duplicates = []      # DNs returned more than once
        self.info = ""

    def code_text(self):
        if isinstance(self.code, int):
            return f"{self.code} {RESULT_NAMES.get(self.code, '')}".strip()
        return str(self.code)

    def summary(self):
        s = self.code_text()
        if self.entries or isinstance(self.code, int) and self.code in (0, 4):
            s += f", {len(self.entries)} entr{'y' if len(self.entries) == 1 else 'ies'}"
        if self.pages:
            s += f" in {len(self.pages)} page(s) {self.pages}"
        return s


def error_code(e):
    if isinstance(e, ldap.SERVER_DOWN) or isinstance(e, ldap.CONNECT_ERROR):
        return DISCONNECTED
    if isinstance(e, ldap.TIMEOUT):
        return TIMEOUT
    d = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
    if "result" in d and d["result"] >= 0 and not isinstance(e, (ldap.FILTER_ERROR, ldap.PARAM_ERROR,
                                                                  ldap.ENCODING_ERROR, ldap.DECODING_ERROR)):
        return d["result"]
    return "client:" + type(e).__name__


def run_repeated(server, q, filt, page):
    """`repeat=N`: the query N times on one new connection. The answer is the first one, with
    the first repetition whose result code differs from it named in the code."""
    try:
        server.ensure(fresh=True)
    except ldap.LDAPError as e:
        a = Answer()
        a.code = error_code(e)
        return a
    first = None
    for i in range(1, q.opts["repeat"] + 1):
        if server.conn is None:
            break
        a = run_search(server, q, filt, page, keep=True)
        if first is None:
            first = a
        elif a.code != first.code:
            first.code = (f"{a.code_text()} at repetition {i} of {q.opts['repeat']} (message id "
                          f"{server.last_msgid}; the {i - 1} before it answered {first.code_text()})")
            first.info = a.info
            break
    server.drop()
    server.reconnects -= 1
    return first


def run_search(server, q, filt, page=None, keep=False):
    a = Answer()
    seen = set()
    try:
        if not keep:
            server.ensure()
        c = server.conn
        ctrl = SimplePagedResultsControl(criticality=True, size=page, cookie=b"") if page else None
        while True:
            msgid = c.search_ext(q.base, q.scope, filt, q.attrs or None,
                                 attrsonly=1 if q.opts.get("typesonly") else 0,
                                 serverctrls=[ctrl] if ctrl else None,
                                 sizelimit=q.opts.get("sizelimit", 0))
            server.last_msgid = msgid
            count = 0
            while True:
                rtype, rdata, _, rctrls = c.result3(msgid, all=0, timeout=10)
                if rtype == ldap.RES_SEARCH_ENTRY:
                    for dn, attrs in rdata:
                        count += 1
                        if dn in seen:
                            a.duplicates.append(dn)
                        seen.add(dn)
                        a.entries[dn] = attrs
                elif rtype == ldap.RES_SEARCH_REFERENCE:
                    continue
                else:
                    break
            a.code = 0
            if not ctrl:
                return a
            a.pages.append(count)
            cookies = [x for x in rctrls if x.controlType == SimplePagedResultsControl.controlType]
            if not cookies:
                a.code = "no paged-results control in the answer"
                return a
            if not cookies[0].cookie:
                return a
            if len(a.pages) > 500:
                a.code = "no end of paging after 500 pages"
                return a
            ctrl.cookie = cookies[0].cookie
    except ldap.LDAPError as e:
        a.code = error_code(e)
        d = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
        a.info = d.get("info", "") if isinstance(d.get("info", ""), str) else ""
        if a.code == 2 and isinstance(e, ldap.PROTOCOL_ERROR) and "ctrls" in d and not a.info:
            a.info = "the server sent a Notice of Disconnection or a protocolError"
        if a.code in (DISCONNECTED, TIMEOUT, 2):
            # protocolError: libldap reports a Notice of Disconnection this way; the server has
            # closed the connection, and the next query must not inherit that.
            server.drop()
        return a


def run_compare(server, q):
    a = Answer()
    try:
        server.ensure()
        server.last_msgid += 1
        r = server.conn.compare_ext_s(q.base, q.attr, q.value)
        a.code = 6 if r else 5
    except ldap.LDAPError as e:
        a.code = error_code(e)
        if a.code in (DISCONNECTED, TIMEOUT, 2):
            server.drop()
    return a


# ---------------------------------------------------------------------------------------------
# Comparing

class Diff:
    def __init__(self, kind, text, attr=None, dn=None):
        self.kind, self.text, self.attr, self.dn = kind, text, attr, dn
        self.rule = None


def show_values(vals, limit=6, width=90):
    out = []
    for v in vals[:limit]:
        try:
            s = v.decode("utf-8")
            if len(s) > width:
                s = s[:width] + "…"
            out.append(repr(s) if not s.isprintable() or s != s.strip() else s)
        except UnicodeDecodeError:
            out.append(repr(v[:width]))
    more = f" … (+{len(vals) - limit})" if len(vals) > limit else ""
    return "[" + "; ".join(out) + more + "]"


def compare(q, ours, theirs, schema):
    diffs = []
    if ours.code != theirs.code:
        diffs.append(Diff("code", f"result: ours {ours.code_text()}, slapd {theirs.code_text()}"))
    if q.kind == "compare":
        return diffs
    for a, label in ((ours, "ours"), (theirs, "slapd")):
        if a.duplicates:
            diffs.append(Diff("paging", f"{label} returned {len(a.duplicates)} entr(ies) twice: {a.duplicates[:3]}"))
        page = q.opts.get("page")
        if page and any(n > page for n in a.pages):
            diffs.append(Diff("paging", f"{label} returned a page larger than {page}: {a.pages}"))
    om = {schema.norm_dn(dn): dn for dn in ours.entries}
    tm = {schema.norm_dn(dn): dn for dn in theirs.entries}
    limited = ours.code == 4 or theirs.code == 4
    if limited and q.opts.get("sizelimit"):
        # Which entries come before the limit is the server's choice: compare how many.
        if len(om) != len(tm):
            diffs.append(Diff("count", f"entries before sizeLimitExceeded: ours {len(om)}, slapd {len(tm)}"))
        return diffs
    for k in sorted(set(om) - set(tm), key=lambda k: om[k].lower()):
        diffs.append(Diff("dn-only-ours", f"only ours returns {om[k]}", dn=om[k]))
    for k in sorted(set(tm) - set(om), key=lambda k: tm[k].lower()):
        diffs.append(Diff("dn-only-slapd", f"only slapd returns {tm[k]}", dn=tm[k]))
    typesonly = bool(q.opts.get("typesonly"))
    for k in sorted(set(om) & set(tm), key=lambda k: om[k].lower()):
        dn = om[k]
        shown = dn or "(root DSE)"
        oa = {}
        for desc, vals in ours.entries[dn].items():
            oa.setdefault(schema.canonical(desc), []).extend(vals)
        ta = {}
        for desc, vals in theirs.entries[tm[k]].items():
            ta.setdefault(schema.canonical(desc), []).extend(vals)
        for name in sorted(set(oa) - set(ta)):
            diffs.append(Diff("attr-only-ours", f"{shown}: only ours returns {name} {show_values(oa[name])}",
                              attr=name, dn=dn))
        for name in sorted(set(ta) - set(oa)):
            diffs.append(Diff("attr-only-slapd", f"{shown}: only slapd returns {name} {show_values(ta[name])}",
                              attr=name, dn=dn))
        for name in sorted(set(oa) & set(ta)):
            if typesonly:
                if oa[name] or ta[name]:
                    if bool(oa[name]) != bool(ta[name]):
                        diffs.append(Diff("values", f"{shown}: typesonly, {name}: ours {show_values(oa[name])}, "
                                          f"slapd {show_values(ta[name])}", attr=name, dn=dn))
                continue
            on = sorted(repr(schema.norm_value(name, v)) for v in oa[name])
            tn = sorted(repr(schema.norm_value(name, v)) for v in ta[name])
            if on != tn:
                diffs.append(Diff("values", f"{shown}: {name}: ours {show_values(oa[name])}, "
                                  f"slapd {show_values(ta[name])}", attr=name, dn=dn))
    return diffs


# ---------------------------------------------------------------------------------------------
# Checking the exported entries against slapd's schema

SYNTAX_CHECKS = {
    "1.3.6.1.4.1.1466.115.121.1.26": ("IA5 String", lambda v: all(b < 128 for b in v)),
    "1.3.6.1.4.1.1466.115.121.1.27": ("INTEGER", lambda v: re.fullmatch(rb"-?(0|[1-9][0-9]*)", v) is not None),
    "1.3.6.1.4.1.1466.115.121.1.7": ("Boolean", lambda v: v in (b"TRUE", b"FALSE")),
    "1.3.6.1.4.1.1466.115.121.1.15": ("Directory String", lambda v: len(v) > 0 and _utf8(v)),
    "1.3.6.1.4.1.1466.115.121.1.44": ("Printable String",
                                      lambda v: re.fullmatch(rb"[A-Za-z0-9'()+,\-./:?= ]+", v) is not None),
    "1.3.6.1.4.1.1466.115.121.1.50": ("Telephone Number",
                                      lambda v: re.fullmatch(rb"[A-Za-z0-9'()+,\-./:?= ]+", v) is not None),
    "1.3.6.1.1.16.1": ("UUID", lambda v: re.fullmatch(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                                                      rb"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", v) is not None),
}


def _utf8(v):
    try:
        v.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def schema_violations(records, schema):
    """[(problem, dn[, offending value])] for every exported entry: attributes no object class allows, missing MUST
    attributes, values outside the attribute's syntax, several values of a SINGLE-VALUE type."""
    out = []
    for dn, attrs in records:
        ocs = [v.decode() for v in attrs.get("objectClass", attrs.get("objectclass", []))]
        must, may, unknown_oc = set(), set(), []
        todo = list(ocs)
        seen = set()
        while todo:
            name = todo.pop().lower()
            if name in seen:
                continue
            seen.add(name)
            c = schema.oc.get(name)
            if c is None:
                unknown_oc.append(name)
                continue
            must |= {schema.oid_of(a) for a in c.must or ()}
            may |= {schema.oid_of(a) for a in c.may or ()}
            todo.extend(c.sup or ())
        for name in unknown_oc:
            out.append((f"object class {name!r} unknown to slapd's schema", dn))
        extensible = "extensibleobject" in seen
        cls = "+".join(sorted(o for o in ocs if o.lower() != "top"))
        present = set()
        for desc, vals in attrs.items():
            t = schema.attr(desc)
            if t is None:
                out.append((f"attribute {desc} unknown to slapd's schema", dn))
                continue
            present.add(t.oid)
            if t.usage == 0 and not extensible and t.oid not in must | may:
                out.append((f"attribute {t.names[0]} not allowed by {cls}", dn))
            if t.single_value and len(vals) > 1:
                out.append((f"attribute {t.names[0]} is SINGLE-VALUE but has {len(vals)} values", dn))
            syntax = schema.inherited(t, "syntax")
            check = SYNTAX_CHECKS.get((syntax or "").split("{")[0])
            if check:
                for v in vals:
                    if not check[1](v):
                        out.append((f"{t.names[0]} value not a valid {check[0]}", dn,
                                    v.decode("utf-8", "replace")))
                        break
        for oid in sorted(must - present):
            t = schema.at.get(oid)
            out.append((f"{cls} requires {t.names[0] if t else oid}, which is missing", dn))
    return out


# ---------------------------------------------------------------------------------------------
# Main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", nargs=3, metavar=("URI", "DN", "PW"), required=True)
    ap.add_argument("--slapd", nargs=3, metavar=("URI", "DN", "PW"), required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--ldif", required=True, help="the export-ldif output that slapd holds")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--accepted", required=True)
    ap.add_argument("--load-status", help="file: first line 'ok' or 'refused', then slapadd's messages")
    ap.add_argument("--markdown", help="also write the unexplained differences as Markdown here")
    ap.add_argument("--only", help="run only queries whose text matches this regular expression")
    ap.add_argument("--verbose", action="store_true", help="also show accepted differences")
    args = ap.parse_args()

    t0 = time.monotonic()
    with open(args.ldif, "rb") as f:
        parser = ldif.LDIFRecordList(f)
        parser.parse()
    records = [(dn, attrs) for dn, attrs in parser.all_records if dn]
    every_dn = [dn for dn, _ in records]
    queries = parse_corpus(args.corpus, args.base, every_dn)
    if args.only:
        rx = re.compile(args.only)
        queries = [q for q in queries if rx.search(q.text)]
    rules = parse_accepted(args.accepted)
    corpus_lines = len({q.lineno for q in queries})

    ours = Server("ours", *args.ours)
    slapd = Server("slapd", *args.slapd)
    _, slapd_schema_entry = slapd.subschema()
    schema = Schema(slapd_schema_entry)

    failures = 0
    md = []

    class Ctx:
        pass
    ctx = Ctx()
    ctx.schema = schema
    ctx.export = {schema.norm_dn(dn): attrs for dn, attrs in records}

    # -- load -------------------------------------------------------------------------------
    print("== Load: o365-ldap's export-ldif into slapd (mdb, schema checking on, slapadd without -c)")
    status = ["ok"]
    if args.load_status:
        with open(args.load_status, encoding="utf-8", errors="replace") as f:
            status = [line.rstrip("\n") for line in f]
    violations = schema_violations(records, schema)
    ctx.fallback = status[0] != "ok"
    if status[0] != "ok":
        failures += 1
        print(f"FAIL - slapadd refused the export ({len(records)} entries); its messages:")
        for line in status[1:]:
            print("       " + line)
        print("       (the queries below ran against a copy loaded with `slapadd -s`, schema checking off)")
    else:
        print(f"ok   - all {len(records)} exported entries loaded with schema checking on")
    if violations:
        grouped = defaultdict(list)
        for problem, dn, *value in violations:
            grouped[problem].append(f"{dn} ({value[0]!r})" if value else dn)
        print(f"       schema violations of the exported entries, judged by slapd's schema "
              f"({len(violations)} in {len({v[1] for v in violations})} entries):")
        for problem, dns in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            print(f"       - {problem}: {len(dns)} entr{'y' if len(dns) == 1 else 'ies'}, e.g. {dns[0]}")
            if problem.endswith("not a valid IA5 String"):
                print(f"         also {'; '.join(dns[1:6])}" + (" …" if len(dns) > 6 else ""))
        md.append("## Load: `slapadd` with schema checking refuses the export\n")
        md.append(f"`export-ldif` wrote {len(records)} entries; `slapadd` (no `-c`, schema checking on) "
                  "stopped at the first refusal:\n")
        md.append("```\n" + "\n".join(status[1:] or ["(no messages)"]) + "\n```\n")
        md.append("Every violation, judged by slapd's schema (core, cosine, inetorgperson, "
                  "rfc2307bis and `tests/conformance/schema/o365-ldap.schema`, which declares the "
                  "extra attribute types exactly as o365-ldap's `cn=Subschema` does):\n")
        md.append("| problem | entries | example |\n|---|---|---|")
        for problem, dns in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            md.append(f"| {problem} | {len(dns)} | `{dns[0]}` |")
        md.append("")

    # -- queries ------------------------------------------------------------------------------
    print(f"\n== Queries: {len(queries)} from {corpus_lines} corpus lines")
    agree, accepted_q, unexplained = 0, 0, []
    per_rule = defaultdict(int)
    by_section = defaultdict(lambda: [0, 0, 0])
    for q in queries:
        if q.kind == "compare":
            oa, ta = run_compare(ours, q), run_compare(slapd, q)
        else:
            page = q.opts.get("page")
            run = run_repeated if q.opts.get("repeat") else run_search
            oa = run(ours, q, q.filt, page)
            ta = run(slapd, q, q.opts.get("slapd-filter", q.filt), page)
        diffs = compare(q, oa, ta, schema)
        for d in diffs:
            for r in rules:
                if r.covers(q, d, ctx):
                    d.rule = r
                    r.used += 1
                    break
        open_diffs = [d for d in diffs if d.rule is None]
        if not diffs:
            agree += 1
            by_section[q.section][0] += 1
        elif not open_diffs:
            accepted_q += 1
            by_section[q.section][1] += 1
            for r in {d.rule for d in diffs}:
                per_rule[r.title] += 1
            if args.verbose:
                print(f"\naccepted: {q!r}\n   ours:  {oa.summary()}\n   slapd: {ta.summary()}")
                for d in diffs:
                    print(f"   - {d.text}  [{d.rule.title}]")
        else:
            unexplained.append((q, oa, ta, diffs))
            by_section[q.section][2] += 1

    for q, oa, ta, diffs in unexplained:
        print(f"\nDIFF {q!r}   [{q.section}]")
        print(f"   ours:  {oa.summary()}" + (f" ({oa.info})" if oa.info else ""))
        print(f"   slapd: {ta.summary()}" + (f" ({ta.info})" if ta.info else ""))
        if "slapd-filter" in q.opts:
            print(f"   (slapd was sent the equivalent filter {q.opts['slapd-filter']})")
        shown = 0
        for d in diffs:
            if d.rule is None:
                if shown < 12:
                    print(f"   - {d.text}")
                shown += 1
        if shown > 12:
            print(f"   - … and {shown - 12} more")
        accepted_here = [d for d in diffs if d.rule is not None]
        if accepted_here:
            print(f"   ({len(accepted_here)} further difference(s) accepted: "
                  f"{', '.join(sorted({d.rule.title for d in accepted_here}))})")

    if unexplained:
        md.append("## Query differences\n")
        cur = None
        for q, oa, ta, diffs in unexplained:
            if q.section != cur:
                md.append(f"\n### {q.section}\n")
                cur = q.section
            md.append(f"- `{q.text}` (corpus line {q.lineno})")
            md.append(f"  - ours: {oa.summary()}" + (f" — {oa.info}" if oa.info else ""))
            md.append(f"  - slapd: {ta.summary()}" + (f" — {ta.info}" if ta.info else "")
                      + (f" (sent `{q.opts['slapd-filter']}`)" if "slapd-filter" in q.opts else ""))
            open_d = [d for d in diffs if d.rule is None]
            for d in open_d[:6]:
                md.append(f"  - {d.text}")
            if len(open_d) > 6:
                md.append(f"  - … and {len(open_d) - 6} more")
        md.append("")

    print("\n== Per section (agree / differ, accepted / differ, unexplained)")
    width = max((len(s) for s in by_section), default=10)
    for sec, (a, b, c) in by_section.items():
        print(f"   {sec:<{width}}  {a:4d} {b:4d} {c:4d}")
    print("\n== Accepted differences (accepted.txt), queries covered")
    for r in rules:
        print(f"   {per_rule.get(r.title, 0):4d}  {r.title}" + ("" if r.used else "   (matched nothing)"))

    failures += len(unexplained)
    elapsed = time.monotonic() - t0
    print(f"\n== {len(queries)} queries: {agree} agree, {accepted_q} differ (accepted), "
          f"{len(unexplained)} differ (unexplained); load {'ok' if status[0] == 'ok' else 'REFUSED'}; "
          f"{elapsed:.1f} s; reconnects after a dropped connection: ours {ours.reconnects}, "
          f"slapd {slapd.reconnects}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(f"{len(queries)} queries from {corpus_lines} corpus lines: {agree} agree, "
                    f"{accepted_q} differ (accepted), {len(unexplained)} differ (unexplained); "
                    f"load {'ok' if status[0] == 'ok' else 'refused'}.\n\n")
            f.write("\n".join(md) + "\n")
    if failures:
        print("FAIL: unexplained differences (see above; tests/conformance/KNOWN-FAILURES.md lists "
              "the ones known today)")
        return 1
    print("ok: every difference is accepted in tests/conformance/accepted.txt")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ldap.LDAPError as e:
        print(f"differ.py: LDAP error outside a query: {e!r}", file=sys.stderr)
        sys.exit(2)
