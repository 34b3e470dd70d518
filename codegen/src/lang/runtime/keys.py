
# The runtime every generated package carries: the key codec, the matcher's walk, cluster slots
# and TTL resolution, written to give byte for byte what keyschema's Rust codec gives.

MAX_KEY_LEN: Final = 64 * 1024
"""The longest key, in UTF-8 bytes, that keyschema formats."""

Value = Union[str, "Layout"]
"""A parameter's value in its text form: text as it is, an int in decimal, a uuid lowercase and
hyphenated, an enum variant by its declared name, an ip in canonical form; or a composite
parameter's value in one of its layouts."""


@dataclass(frozen=True)
class Layout:
    """A composite parameter's value in one of its layouts (1 for the first), with the layout's
    values in their text forms by parameter name."""

    layout: int
    parts: Mapping[str, str]


class FormatError(ValueError):
    """Why a key could not be formatted."""

    def __init__(self, key: str, param: Optional[str], reason: str) -> None:
        if param is None:
            super().__init__(f"key {key}: {reason}")
        else:
            super().__init__(f"invalid value for {param} of key {key}: {reason}")
        self.key = key
        self.param = param
        self.reason = reason


class ParseError(ValueError):
    """Why a key matches no pattern of the schema."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"key {key!r}: {reason}")
        self.key = key
        self.reason = reason


class TtlError(ValueError):
    """Why an environment variable could not give a TTL."""

    def __init__(self, variable: str, value: str, reason: str) -> None:
        super().__init__(f"environment variable {variable}={value!r} {reason}")
        self.variable = variable
        self.value = value
        self.reason = reason


_HEX = "0123456789ABCDEF"
_ESCAPED = frozenset([ord(_SEPARATOR), 0x7B, 0x7D, 0x25, 0x7F, *range(0x20)])
_ESCAPES = {c: f"%{c:02X}" for c in _ESCAPED}
_NEEDS_ESCAPE = re.compile("[" + re.escape("".join(chr(c) for c in sorted(_ESCAPED))) + "]")
_IDENT = re.compile(r"[A-Za-z0-9_.-]+\Z")
_CANONICAL_INT = re.compile(r"(0|-?[1-9][0-9]*)\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_IPV4 = re.compile(r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\Z")
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_U64_MAX = 2**64 - 1


def _escape(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return value.translate(_ESCAPES)


def _hex_value(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 0x30
    if "A" <= c <= "F":
        return ord(c) - 0x41 + 10
    return -1


def _unescape(encoded: str, spans: bool) -> Optional[str]:
    """The decoded value, or None when `encoded` is not in its one canonical form."""
    out = []
    i = 0
    while i < len(encoded):
        c = encoded[i]
        if c == "%":
            high = _hex_value(encoded[i + 1]) if i + 1 < len(encoded) else -1
            low = _hex_value(encoded[i + 2]) if i + 2 < len(encoded) else -1
            if high < 0 or low < 0 or (high << 4 | low) not in _ESCAPED:
                return None
            out.append(chr(high << 4 | low))
            i += 3
            continue
        if ord(c) in _ESCAPED and not (spans and c == _SEPARATOR):
            return None
        out.append(c)
        i += 1
    return "".join(out)


def _is_canonical_int(text: str) -> bool:
    return _CANONICAL_INT.match(text) is not None and _I64_MIN <= int(text) <= _I64_MAX


def _ipv6_text(groups: Sequence[int]) -> str:
    """An IPv6 address as Rust writes it: IPv4-mapped in dotted form, else RFC 5952."""
    if all(g == 0 for g in groups[:5]) and groups[5] == 0xFFFF:
        return f"::ffff:{groups[6] >> 8}.{groups[6] & 0xFF}.{groups[7] >> 8}.{groups[7] & 0xFF}"
    best, best_length, i = -1, 1, 0
    while i < 8:
        j = i
        while j < 8 and groups[j] == 0:
            j += 1
        if j - i > best_length:
            best, best_length = i, j - i
        i = j if j > i else i + 1
    if best < 0:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:best])
    tail = ":".join(f"{g:x}" for g in groups[best + best_length :])
    return f"{head}::{tail}"


def _is_canonical_ip(text: str) -> bool:
    if _IPV4.match(text):
        return True
    if ":" not in text or not text.isascii():
        return False
    try:
        packed = ipaddress.IPv6Address(text).packed
    except ValueError:
        return False
    groups = [packed[i] << 8 | packed[i + 1] for i in range(0, 16, 2)]
    return _ipv6_text(groups) == text


_KIND_TEXT, _KIND_IDENT, _KIND_INT, _KIND_UUID, _KIND_ENUM, _KIND_UNIX_SECONDS, _KIND_IP = range(7)


class _Param(NamedTuple):
    name: str
    kind: int
    names: Tuple[str, ...]
    forms: Tuple[str, ...]
    excluded: Tuple[str, ...]
    spans: bool
    layouts: Tuple[Tuple[Union[str, int], ...], ...]


class _Builder:
    """Formats one key: literals as they are, values in their canonical, escaped form."""

    __slots__ = ("key", "out")

    def __init__(self, key: "Key") -> None:
        self.key = key
        self.out: List[str] = []

    def fail(self, p: int, reason: str) -> NoReturn:
        raise FormatError(self.key.name, _PARAMS[p].name, reason)

    def literal(self, text: str) -> None:
        self.out.append(text)

    def text(self, p: int, value: object) -> None:
        if not isinstance(value, str):
            self.fail(p, f"{value!r} is not a str")
        if value == "":
            self.fail(p, "empty value")
        if value in _PARAMS[p].excluded:
            self.fail(p, f"{value!r} is excluded for this parameter")
        try:
            value.encode()
        except UnicodeEncodeError:
            self.fail(p, f"{value!r} is not valid Unicode")
        self.out.append(_escape(value))

    def ident(self, p: int, value: object) -> None:
        if not isinstance(value, str) or _IDENT.match(value) is None:
            self.fail(p, f"{value!r} is not an ident ([A-Za-z0-9_.-]+)")
        self.text(p, value)

    def integer(self, p: int, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not _I64_MIN <= value <= _I64_MAX:
            self.fail(p, f"{value!r} is not an int (64-bit)")
        text = str(value)
        if text in _PARAMS[p].excluded:
            self.fail(p, f"{text!r} is excluded for this parameter")
        self.out.append(_escape(text))

    def unix_seconds(self, p: int, value: object) -> None:
        if isinstance(value, int) and value < 0:
            self.fail(p, f"{value} is not a unix_seconds (non-negative)")
        self.integer(p, value)

    def uuid(self, p: int, value: object) -> None:
        if not isinstance(value, str) or _UUID.match(value) is None:
            self.fail(p, f"{value!r} is not a uuid (lowercase, hyphenated)")
        self.out.append(_escape(value))

    def enum(self, p: int, value: object) -> None:
        param = _PARAMS[p]
        if not isinstance(value, str) or value not in param.names:
            self.fail(p, f"{value!r} is not one of {', '.join(param.names)}")
        form = param.forms[param.names.index(value)]
        if form in param.excluded:
            self.fail(p, f"{form!r} is excluded for this parameter")
        self.out.append(_escape(form))

    def ip(self, p: int, value: object) -> None:
        if not isinstance(value, str) or not _is_canonical_ip(value):
            self.fail(p, f"{value!r} is not an ip (canonical IPv4 or IPv6)")
        self.out.append(_escape(value))

    def finish(self) -> str:
        key = "".join(self.out)
        length = len(key.encode())
        if length > MAX_KEY_LEN:
            raise FormatError(self.key.name, None, f"the key would be {length} bytes, longer than the {MAX_KEY_LEN} keyschema allows")
        return key


def _value_of(key: "Key", values: Mapping[str, Value], p: int) -> Value:
    value = values.get(_PARAMS[p].name)
    if value is None:
        raise FormatError(key.name, _PARAMS[p].name, "no value given")
    return value


def _simple_of(key: "Key", values: Mapping[str, Value], p: int) -> str:
    value = _value_of(key, values, p)
    if not isinstance(value, str):
        raise FormatError(key.name, _PARAMS[p].name, "the parameter has no layouts")
    return value


def _layout_of(key: "Key", values: Mapping[str, Value], p: int) -> Value:
    value = _value_of(key, values, p)
    if isinstance(value, str):
        return value
    layouts = _PARAMS[p].layouts
    if not 1 <= value.layout <= len(layouts):
        raise FormatError(key.name, _PARAMS[p].name, f"no layout {value.layout}")
    names = {_PARAMS[piece].name for piece in layouts[value.layout - 1] if isinstance(piece, int)}
    for name in value.parts:
        if name not in names:
            raise FormatError(key.name, _PARAMS[p].name, f"its layout has no part {name}")
    return value


def _part_of(key: "Key", parts: Mapping[str, str], p: int) -> str:
    value = parts.get(_PARAMS[p].name)
    if value is None:
        raise FormatError(key.name, _PARAMS[p].name, "no value given")
    return value


def _int_of(key: "Key", p: int, text: str) -> int:
    if not _is_canonical_int(text):
        raise FormatError(key.name, _PARAMS[p].name, f"{text!r} is not an int (canonical decimal)")
    return int(text)


def _decode(p: int, encoded: str) -> Optional[str]:
    """The text form of the key form of a value of parameter `p`, or None when it is not one."""
    if encoded == "":
        return None
    param = _PARAMS[p]
    text = _unescape(encoded, param.spans)
    if text is None or text in param.excluded:
        return None
    kind = param.kind
    if kind == _KIND_IDENT:
        return text if _IDENT.match(text) else None
    if kind == _KIND_INT:
        return text if _is_canonical_int(text) else None
    if kind == _KIND_UNIX_SECONDS:
        return text if _is_canonical_int(text) and not text.startswith("-") else None
    if kind == _KIND_UUID:
        return text if _UUID.match(text) else None
    if kind == _KIND_ENUM:
        return param.names[param.forms.index(text)] if text in param.forms else None
    if kind == _KIND_IP:
        return text if _is_canonical_ip(text) else None
    return text


@dataclass(frozen=True)
class Match:
    """A key read back: which key definition, its values by parameter name, and its slot."""

    key: "Key"
    values: Mapping[str, Value]
    slot: int


def parse(key: str) -> Match:
    """Reads a key back: the most specific pattern that matches it (as keyschema's matcher
    decides), its values in their text forms, and its slot. Raises ParseError when none matches."""
    if key == "":
        raise ParseError(key, "empty key")
    found: List[str] = []
    v = _walk(0, key, 0, found)
    if v < 0:
        raise ParseError(key, "no pattern matches")
    key_index, choices = _VARIANTS[v]
    definition = _KEYS[key_index]
    values: Dict[str, Value] = {}
    found.reverse()
    for p, choice in zip(definition.params, choices):
        if choice < 0:
            values[_PARAMS[p].name] = found.pop()
            continue
        parts = {}
        for piece in _PARAMS[p].layouts[choice]:
            if isinstance(piece, int):
                parts[_PARAMS[piece].name] = found.pop()
        values[_PARAMS[p].name] = Layout(choice + 1, parts)
    return Match(definition, values, slot(key))


def _walk(n: int, key: str, at: int, found: List[str]) -> int:
    """Depth-first from node `n` with the segment starting at `at`: the first variant reached
    with the whole key consumed, or -1; the decoded values are left in `found`."""
    literals, tests, spanning, terminal = _NODES[n]
    if at > len(key):
        return terminal
    end = key.find(_SEPARATOR, at)
    if end < 0:
        end = len(key)
    segment = key[at:end]
    mark = len(found)
    for literal, child in literals:
        if literal == segment:
            v = _walk(child, key, end + 1, found)
            if v >= 0:
                return v
    for test, child in tests:
        del found[mark:]
        if isinstance(test, int):
            text = _decode(test, segment)
            if text is None:
                continue
            found.append(text)
        elif not _split_pieces(test, segment, found):
            continue
        v = _walk(child, key, end + 1, found)
        if v >= 0:
            return v
    for p, child in spanning:
        # Longest first: legacy values swallow as many segments as the rest allows.
        last = len(key)
        while True:
            del found[mark:]
            text = _decode(p, key[at:last])
            if text is not None:
                found.append(text)
                v = _walk(child, key, last + 1, found)
                if v >= 0:
                    return v
            i = key.rfind(_SEPARATOR, end, last)
            if i < 0 or last <= end:
                break
            last = i
    del found[mark:]
    return -1


def _split_pieces(pieces: Sequence[Union[str, int]], segment: str, found: List[str]) -> bool:
    """Cuts a mixed segment at its literals, each value running to the next literal."""
    rest = segment
    for i, piece in enumerate(pieces):
        if isinstance(piece, str):
            if not rest.startswith(piece):
                return False
            rest = rest[len(piece) :]
            continue
        end = len(rest)
        following = pieces[i + 1] if i + 1 < len(pieces) else None
        if isinstance(following, str):
            end = rest.find(following)
            if end < 0:
                return False
        text = _decode(piece, rest[:end])
        if text is None:
            return False
        found.append(text)
        rest = rest[end:]
    return rest == ""


def _crc_table() -> Tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def slot(key: str) -> int:
    """The Redis Cluster hash slot of `key`: CRC16 of its hash tag's UTF-8 bytes, or of the whole key."""
    open_ = key.find("{")
    if open_ >= 0:
        close = key.find("}", open_ + 1)
        if close > open_ + 1:
            key = key[open_ + 1 : close]
    crc = 0
    for byte in key.encode("utf-8", "surrogatepass"):
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc % 16384


# Unicode's White_Space property, which Rust's str::trim uses.
_WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class Ttl:
    """How long a key lives: never, a fixed duration, an environment variable read with a
    default and a unit, a multiple of another TTL, or chosen per write up to a bound."""

    kind: str
    millis: int = 0
    variable: Optional[str] = None
    unit: int = 0
    unit_name: str = ""
    factor: int = 0
    base: Optional["Ttl"] = None

    @property
    def expires(self) -> bool:
        """Whether keys under this TTL expire at all."""
        return self.kind != "none"

    @property
    def per_write(self) -> bool:
        """Whether each write chooses the TTL, up to the resolved bound."""
        return self.kind == "per_write"

    @property
    def env(self) -> Optional[str]:
        """The environment variable the TTL reads, or None."""
        return self.base.env if self.base is not None else self.variable

    def resolve(self, lookup: Optional[Callable[[str], Optional[str]]] = None) -> Optional[int]:
        """The TTL in milliseconds as the Rust store resolves it, None for a key that never
        expires; `lookup` gives environment variables (os.environ's by default). Raises
        TtlError when a variable's value is not a whole number of its unit, overflows, or is zero."""
        if lookup is None:
            lookup = os.environ.get
        if self.kind == "none":
            return None
        if self.kind == "fixed":
            return self.millis
        if self.base is not None and self.kind == "per_write":
            return self.base.resolve(lookup)
        if self.base is not None and self.kind == "multiple":
            base = self.base.resolve(lookup)
            if base is None:
                return None
            if base * self.factor > _U64_MAX:
                raise TtlError(self.env or "", str(base), "overflows a duration")
            return base * self.factor
        variable = self.variable or ""
        value = lookup(variable)
        if value is None:
            return self.millis
        trimmed = value.strip(_WHITE_SPACE)
        digits = trimmed[1:] if trimmed.startswith("+") else trimmed
        if not (digits.isascii() and digits.isdigit()) or int(digits) > _U64_MAX:
            raise TtlError(variable, value, f"is not a whole number of {self.unit_name}")
        millis = int(digits) * self.unit
        if millis > _U64_MAX:
            raise TtlError(variable, value, "overflows a duration")
        if millis == 0:
            raise TtlError(variable, value, "gives a TTL of zero, which deletes every key it is applied to")
        return millis


class Key:
    """A key definition of the schema: its pattern, Redis type, codec, TTL and slot group."""

    __slots__ = ("name", "pattern", "redis_type", "codec", "fields", "ttl", "slot_group", "purpose", "params", "_index")

    def __init__(
        self,
        index: int,
        name: str,
        pattern: str,
        redis_type: str,
        codec: str,
        fields: Tuple[str, ...],
        ttl: Ttl,
        slot_group: Optional[str],
        purpose: str,
        params: Tuple[int, ...],
    ) -> None:
        self.name = name
        """The key's code name (job_state)."""
        self.pattern = pattern
        """The pattern as declared (job:state:<jobID>)."""
        self.redis_type = redis_type
        """What Redis's TYPE answers for it."""
        self.codec = codec
        """How its values are stored, as the schema writes it (json(JobState))."""
        self.fields = fields
        """The declared fields of a record hash, in order."""
        self.ttl = ttl
        """How long its keys live."""
        self.slot_group = slot_group
        """The hash tag shared by keys on one cluster slot ({<jobID>}), or None."""
        self.purpose = purpose
        """What the key is for."""
        self.params = params
        self._index = index

    def __repr__(self) -> str:
        return f"<key {self.name}: {self.pattern}>"

    def format_values(self, values: Mapping[str, Value]) -> str:
        """Formats the key from values in their text forms, by parameter name: what a tool that
        reads values from people or files uses. Typed code calls the key's `format`."""
        names = {_PARAMS[p].name for p in self.params}
        for name in values:
            if name not in names:
                raise FormatError(self.name, name, "the key has no such parameter")
        return _format_values(self, values)
