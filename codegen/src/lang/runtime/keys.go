
// The runtime every generated Go package carries: the key codec, the matcher's walk, cluster
// slots and TTL resolution, written to give byte for byte what keyschema's Rust codec gives.

// MaxKeyLen is the longest key, in bytes, that keyschema formats or reads back.
const MaxKeyLen = 64 * 1024

// Key is one key definition of the schema: its pattern, Redis type, codec, TTL and slot group.
type Key struct {
	// Name is the key's code name (job_state).
	Name string
	// Pattern is the key's pattern as declared (job:state:<jobID>).
	Pattern string
	// RedisType is what Redis's TYPE answers for it (string, hash, list, set, zset, stream).
	RedisType string
	// Codec is how its values are stored, as the schema writes it (json(JobState)).
	Codec string
	// Fields are the declared fields of a record hash, in order.
	Fields []string
	// TTL is how long its keys live.
	TTL TTL
	// SlotGroup is the hash tag shared by keys that live on one cluster slot ({<jobID>}), or
	// empty when the pattern has no hash tag.
	SlotGroup string
	// Purpose is what the key is for.
	Purpose string

	index  int
	params []int
}

// Value is a parameter's value in its text form: text as it is, an int in decimal, a uuid
// lowercase and hyphenated, an enum variant by its declared name, an ip in canonical form. A
// composite parameter's value in one of its layouts has Layout set (1 for the first) and the
// layout's values in Parts.
type Value struct {
	Text   string
	Layout int
	Parts  map[string]string
}

// Match is a key read back: which key definition, its values by parameter name, and its slot.
type Match struct {
	Key    *Key
	Values map[string]Value
	Slot   uint16
}

// FormatError says why a key could not be formatted.
type FormatError struct {
	Key    string
	Param  string
	Reason string
}

func (e *FormatError) Error() string {
	if e.Param == "" {
		return "key " + e.Key + ": " + e.Reason
	}
	return "invalid value for " + e.Param + " of key " + e.Key + ": " + e.Reason
}

// ParseError says why a key matches no pattern of the schema.
type ParseError struct {
	Key    string
	Reason string
}

func (e *ParseError) Error() string { return "key " + strconv.Quote(e.Key) + ": " + e.Reason }

// TTLError says why an environment variable could not give a TTL.
type TTLError struct {
	Var    string
	Value  string
	Reason string
}

func (e *TTLError) Error() string {
	return "environment variable " + e.Var + "=" + strconv.Quote(e.Value) + " " + e.Reason
}

// KeyNamed answers the key definition with code name name.
func KeyNamed(name string) (*Key, bool) {
	for i := range keys {
		if keys[i].Name == name {
			return &keys[i], true
		}
	}
	return nil, false
}

// Keys answers every key definition of the schema, in declaration order.
func Keys() []*Key {
	out := make([]*Key, len(keys))
	for i := range keys {
		out[i] = &keys[i]
	}
	return out
}

// FormatValues formats the key from values in their text form, by parameter name: what a tool
// that reads values from people or files uses. Typed code calls the key's Format.
func (k *Key) FormatValues(values map[string]Value) (string, error) {
	for name := range values {
		found := false
		for _, p := range k.params {
			found = found || params[p].name == name
		}
		if !found {
			return "", &FormatError{Key: k.Name, Param: name, Reason: "the key has no such parameter"}
		}
	}
	return formatValues(k, values)
}

type kind uint8

const (
	kindText kind = iota
	kindIdent
	kindInt
	kindUUID
	kindEnum
	kindUnixSeconds
	kindIP
)

// part is a piece of a layout or of a mixed segment: literal text, or a parameter (param >= 0).
type part struct {
	literal string
	param   int
}

type param struct {
	name    string
	kind    kind
	names   []string // an enum's variants as declared
	forms   []string // an enum's variants as keys write them
	except  []string
	spans   bool
	layouts [][]part
}

type edge struct {
	literal string
	child   int
}

type test struct {
	param  int    // a whole-segment parameter, or -1
	pieces []part // else: literals and parameters
	child  int
}

type spanEdge struct {
	param int
	child int
}

type node struct {
	literals []edge
	params   []test
	spanning []spanEdge
	terminal int // a variant, or -1
}

type variant struct {
	key     int
	choices []int // per placeholder: -1 for the simple form, else the layout
}

func mustEscape(b byte) bool {
	return escaped[b]
}

// escaped is the set of bytes written %XX in values.
var escaped = func() (table [256]bool) {
	for i := range table {
		table[i] = i == separator || i == '{' || i == '}' || i == '%' || i < 0x20 || i == 0x7f
	}
	return table
}()

const hexUpper = "0123456789ABCDEF"

func escapeTo(b *strings.Builder, value string) {
	clean := 0
	for i := 0; i < len(value); i++ {
		if c := value[i]; mustEscape(c) {
			b.WriteString(value[clean:i])
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&0xf])
			clean = i + 1
		}
	}
	b.WriteString(value[clean:])
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unescape decodes an escaped value; ok is false when it is not in its one canonical form.
func unescape(encoded string, spans bool) (string, bool) {
	if strings.IndexByte(encoded, '%') < 0 {
		for i := 0; i < len(encoded); i++ {
			if c := encoded[i]; mustEscape(c) && !(spans && c == separator) {
				return "", false
			}
		}
		return encoded, true
	}
	out := make([]byte, 0, len(encoded))
	for i := 0; i < len(encoded); i++ {
		c := encoded[i]
		if c == '%' {
			if i+2 >= len(encoded) {
				return "", false
			}
			high, low := hexValue(encoded[i+1]), hexValue(encoded[i+2])
			if high < 0 || low < 0 || !mustEscape(byte(high<<4|low)) {
				return "", false
			}
			out = append(out, byte(high<<4|low))
			i += 2
			continue
		}
		if mustEscape(c) && !(spans && c == separator) {
			return "", false
		}
		out = append(out, c)
	}
	return string(out), true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// parseCanonicalInt parses a decimal with no '+', no leading zeros and no "-0".
func parseCanonicalInt(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || digits[0] == '0' && (len(digits) > 1 || len(digits) != len(s)) {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func isCanonicalUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	// Unrolled over the 32 hex digits (the hyphens were checked above): a load and an or each,
	// with no bounds checks once the length is known. Most of what formatting a uuid key costs.
	t := &notLowerHex
	bad := t[s[0]] | t[s[1]] | t[s[2]] | t[s[3]] | t[s[4]] | t[s[5]] | t[s[6]] | t[s[7]] |
		t[s[9]] | t[s[10]] | t[s[11]] | t[s[12]] | t[s[14]] | t[s[15]] | t[s[16]] | t[s[17]] |
		t[s[19]] | t[s[20]] | t[s[21]] | t[s[22]] | t[s[24]] | t[s[25]] | t[s[26]] | t[s[27]] |
		t[s[28]] | t[s[29]] | t[s[30]] | t[s[31]] | t[s[32]] | t[s[33]] | t[s[34]] | t[s[35]]
	return bad == 0
}

// notLowerHex is 1 for every byte but the lowercase hex digits.
var notLowerHex = func() (table [256]byte) {
	for i := range table {
		if !(i >= '0' && i <= '9' || i >= 'a' && i <= 'f') {
			table[i] = 1
		}
	}
	return table
}()

// canonicalIP answers the address of s when s is its canonical form (RFC 5952 for IPv6).
func canonicalIP(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" || addr.String() != s {
		return netip.Addr{}, false
	}
	return addr, true
}

func excluded(p *param, value string) bool {
	for _, word := range p.except {
		if word == value {
			return true
		}
	}
	return false
}

// The encoders give a value's key form: checked as the Rust codec checks it, and escaped. A
// value that needs no escape is answered as it is, so a key costs one allocation: the
// concatenation the generated Format does.

func fail(k *Key, p int, reason string) error {
	return &FormatError{Key: k.Name, Param: params[p].name, Reason: reason}
}

// escape answers value with the bytes mustEscape names written %XX.
func escape(value string) string {
	clean := 0
	for clean < len(value) && !mustEscape(value[clean]) {
		clean++
	}
	if clean == len(value) {
		return value
	}
	var b strings.Builder
	b.Grow(len(value) + 8)
	escapeTo(&b, value)
	return b.String()
}

func encodeText(k *Key, p int, v string) (string, error) {
	if v == "" {
		return "", fail(k, p, "empty value")
	}
	if excluded(&params[p], v) {
		return "", fail(k, p, strconv.Quote(v)+" is excluded for this parameter")
	}
	// One pass finds what the value needs: an escape, a UTF-8 check.
	needs := byte(0)
	for i := 0; i < len(v); i++ {
		needs |= textByte[v[i]]
	}
	if needs&2 != 0 && !utf8.ValidString(v) {
		return "", fail(k, p, strconv.Quote(v)+" is not valid UTF-8")
	}
	if needs&1 != 0 {
		return escape(v), nil
	}
	return v, nil
}

// textByte is 1 for a byte written %XX, 2 for a byte of a multi-byte UTF-8 sequence.
var textByte = func() (table [256]byte) {
	for i := range table {
		if escaped[i] {
			table[i] = 1
		} else if i >= 0x80 {
			table[i] = 2
		}
	}
	return table
}()

func encodeIdent(k *Key, p int, v string) (string, error) {
	if !isIdent(v) {
		return "", fail(k, p, strconv.Quote(v)+" is not an ident ([A-Za-z0-9_.-]+)")
	}
	return encodeText(k, p, v)
}

func encodeInt(k *Key, p int, n int64) (string, error) {
	s := strconv.FormatInt(n, 10)
	if excluded(&params[p], s) {
		return "", fail(k, p, strconv.Quote(s)+" is excluded for this parameter")
	}
	return escape(s), nil
}

func encodeUnixSeconds(k *Key, p int, n int64) (string, error) {
	if n < 0 {
		return "", fail(k, p, strconv.FormatInt(n, 10)+" is not a unix_seconds (non-negative)")
	}
	return encodeInt(k, p, n)
}

// uuidNeedsEscape says whether a canonical uuid can hold the separator.
const uuidNeedsEscape = separator == '-' || separator >= '0' && separator <= '9' || separator >= 'a' && separator <= 'f'

func encodeUUID(k *Key, p int, v string) (string, error) {
	if !isCanonicalUUID(v) {
		return "", fail(k, p, strconv.Quote(v)+" is not a uuid (lowercase, hyphenated)")
	}
	if uuidNeedsEscape {
		return escape(v), nil
	}
	return v, nil
}

func encodeEnum(k *Key, p int, name string) (string, error) {
	for i, declared := range params[p].names {
		if declared == name {
			form := params[p].forms[i]
			if excluded(&params[p], form) {
				return "", fail(k, p, strconv.Quote(form)+" is excluded for this parameter")
			}
			return escape(form), nil
		}
	}
	return "", fail(k, p, strconv.Quote(name)+" is not one of "+strings.Join(params[p].names, ", "))
}

func encodeIP(k *Key, p int, addr netip.Addr) (string, error) {
	if !addr.IsValid() || addr.Zone() != "" {
		return "", fail(k, p, strconv.Quote(addr.String())+" is not an ip without a zone")
	}
	return escape(addr.String()), nil
}

// finish checks a formatted key's length.
func finish(k *Key, key string) (string, error) {
	if len(key) > MaxKeyLen {
		return "", &FormatError{Key: k.Name, Reason: "the key would be " + strconv.Itoa(len(key)) + " bytes, longer than the " + strconv.Itoa(MaxKeyLen) + " keyschema allows"}
	}
	return key, nil
}

// The text forms of FormatValues' values, checked and converted for the typed formatters.

func valueOf(k *Key, values map[string]Value, p int) (Value, error) {
	v, ok := values[params[p].name]
	if !ok {
		return Value{}, &FormatError{Key: k.Name, Param: params[p].name, Reason: "no value given"}
	}
	return v, nil
}

func simpleOf(k *Key, values map[string]Value, p int) (string, error) {
	v, err := valueOf(k, values, p)
	if err == nil && (v.Layout != 0 || v.Parts != nil) {
		err = &FormatError{Key: k.Name, Param: params[p].name, Reason: "the parameter has no layouts"}
	}
	return v.Text, err
}

func partOf(k *Key, parts map[string]string, p int) (string, error) {
	v, ok := parts[params[p].name]
	if !ok {
		return "", &FormatError{Key: k.Name, Param: params[p].name, Reason: "no value given"}
	}
	return v, nil
}

func intOf(k *Key, p int, s string) (int64, error) {
	n, ok := parseCanonicalInt(s)
	if !ok {
		return 0, &FormatError{Key: k.Name, Param: params[p].name, Reason: strconv.Quote(s) + " is not an int (canonical decimal)"}
	}
	return n, nil
}

func ipOf(k *Key, p int, s string) (netip.Addr, error) {
	addr, ok := canonicalIP(s)
	if !ok {
		return addr, &FormatError{Key: k.Name, Param: params[p].name, Reason: strconv.Quote(s) + " is not an ip (canonical IPv4 or IPv6)"}
	}
	return addr, nil
}

func layoutOf(k *Key, p int, v Value) error {
	if v.Layout < 0 || v.Layout > len(params[p].layouts) {
		return &FormatError{Key: k.Name, Param: params[p].name, Reason: "no layout " + strconv.Itoa(v.Layout)}
	}
	for name := range v.Parts {
		found := false
		if v.Layout > 0 {
			for _, piece := range params[p].layouts[v.Layout-1] {
				found = found || piece.param >= 0 && params[piece.param].name == name
			}
		}
		if !found {
			return &FormatError{Key: k.Name, Param: params[p].name, Reason: "its layout has no part " + name}
		}
	}
	return nil
}

// Parse reads a key back: the most specific pattern that matches it (as keyschema's matcher
// decides), its values and its slot.
func Parse(key string) (Match, error) {
	if key == "" {
		return Match{}, &ParseError{Key: key, Reason: "empty key"}
	}
	var found []found
	v := walk(0, key, 0, &found)
	if v < 0 {
		return Match{}, &ParseError{Key: key, Reason: "no pattern matches"}
	}
	vr := &variants[v]
	k := &keys[vr.key]
	values := make(map[string]Value, len(k.params))
	next := 0
	for i, p := range k.params {
		if vr.choices[i] < 0 {
			values[params[p].name] = Value{Text: found[next].text}
			next++
			continue
		}
		layout := Value{Layout: vr.choices[i] + 1, Parts: map[string]string{}}
		for _, piece := range params[p].layouts[vr.choices[i]] {
			if piece.param >= 0 {
				layout.Parts[params[piece.param].name] = found[next].text
				next++
			}
		}
		values[params[p].name] = layout
	}
	return Match{Key: k, Values: values, Slot: Slot(key)}, nil
}

type found struct {
	param int
	text  string
}

// walk searches depth-first from node n with the segment starting at at; it answers the first
// variant reached with the whole key consumed, or -1, and leaves the decoded values in *out.
func walk(n int, key string, at int, out *[]found) int {
	nd := &nodes[n]
	if at > len(key) {
		return nd.terminal
	}
	end := strings.IndexByte(key[at:], separator)
	if end < 0 {
		end = len(key)
	} else {
		end += at
	}
	segment := key[at:end]
	mark := len(*out)
	for _, e := range nd.literals {
		if e.literal == segment {
			if v := walk(e.child, key, end+1, out); v >= 0 {
				return v
			}
		}
	}
	for _, t := range nd.params {
		*out = (*out)[:mark]
		if t.param >= 0 {
			if text, ok := decode(t.param, segment); ok {
				*out = append(*out, found{t.param, text})
				if v := walk(t.child, key, end+1, out); v >= 0 {
					return v
				}
			}
		} else if splitPieces(t.pieces, segment, out) {
			if v := walk(t.child, key, end+1, out); v >= 0 {
				return v
			}
		}
	}
	for _, s := range nd.spanning {
		// Longest first: legacy values swallow as many segments as the rest allows.
		last := len(key)
		for {
			*out = (*out)[:mark]
			if text, ok := decode(s.param, key[at:last]); ok {
				*out = append(*out, found{s.param, text})
				if v := walk(s.child, key, last+1, out); v >= 0 {
					return v
				}
			}
			i := strings.LastIndexByte(key[end:last], separator)
			if i < 0 || last <= end {
				break
			}
			last = end + i
		}
	}
	*out = (*out)[:mark]
	return -1
}

// splitPieces cuts a mixed segment at its literals, each parameter's value running to the next
// literal, and decodes the values into *out.
func splitPieces(pieces []part, segment string, out *[]found) bool {
	rest := segment
	for i, piece := range pieces {
		if piece.param < 0 {
			if !strings.HasPrefix(rest, piece.literal) {
				return false
			}
			rest = rest[len(piece.literal):]
			continue
		}
		end := len(rest)
		if i+1 < len(pieces) && pieces[i+1].param < 0 {
			end = strings.Index(rest, pieces[i+1].literal)
			if end < 0 {
				return false
			}
		}
		text, ok := decode(piece.param, rest[:end])
		if !ok {
			return false
		}
		*out = append(*out, found{piece.param, text})
		rest = rest[end:]
	}
	return rest == ""
}

// decode reads the key form of a value of parameter p into its text form.
func decode(p int, encoded string) (string, bool) {
	if encoded == "" {
		return "", false
	}
	pr := &params[p]
	text, ok := unescape(encoded, pr.spans)
	if !ok || excluded(pr, text) {
		return "", false
	}
	switch pr.kind {
	case kindIdent:
		ok = isIdent(text)
	case kindInt:
		_, ok = parseCanonicalInt(text)
	case kindUnixSeconds:
		n, valid := parseCanonicalInt(text)
		ok = valid && n >= 0
	case kindUUID:
		ok = isCanonicalUUID(text)
	case kindEnum:
		for i, form := range pr.forms {
			if form == text {
				return pr.names[i], true
			}
		}
		return "", false
	case kindIP:
		_, ok = canonicalIP(text)
	}
	return text, ok
}

// Slot answers the Redis Cluster hash slot of key: CRC16 of its hash tag, or of the whole key.
func Slot(key string) uint16 {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for bit := 0; bit < 8; bit++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

// TTL is how long a key lives: never, a fixed duration, an environment variable read with a
// default and a unit, a multiple of another TTL, or chosen per write up to a bound.
type TTL struct {
	kind    ttlKind
	millis  uint64 // fixed: the duration; env: the default
	env     string
	unit    uint64 // env: milliseconds in one unit of the variable's value
	factor  uint64
	base    *TTL // multiple: the TTL multiplied; per write: the bound
	perUnit string
}

type ttlKind uint8

const (
	ttlNone ttlKind = iota
	ttlFixed
	ttlEnv
	ttlMultiple
	ttlPerWrite
)

// Expires says whether keys under this TTL expire at all.
func (t TTL) Expires() bool { return t.kind != ttlNone }

// PerWrite says whether each write chooses the TTL, up to the resolved bound.
func (t TTL) PerWrite() bool { return t.kind == ttlPerWrite }

// Env names the environment variable the TTL reads, or is empty.
func (t TTL) Env() string {
	for ; t.base != nil; t = *t.base {
	}
	return t.env
}

// Resolve answers the TTL in milliseconds as the Rust store resolves it, with lookup giving
// environment variables (os.LookupEnv for the process's): the default when the variable is
// unset; an error when its value is not a whole number of its unit, overflows, or is zero.
// expires is false for a key that never expires.
func (t TTL) Resolve(lookup func(string) (string, bool)) (millis uint64, expires bool, err error) {
	switch t.kind {
	case ttlNone:
		return 0, false, nil
	case ttlFixed:
		return t.millis, true, nil
	case ttlPerWrite:
		return t.base.Resolve(lookup)
	case ttlMultiple:
		base, expires, err := t.base.Resolve(lookup)
		if err != nil || !expires {
			return 0, expires, err
		}
		if base > math.MaxUint64/t.factor {
			return 0, false, &TTLError{Var: t.Env(), Value: strconv.FormatUint(base, 10), Reason: "overflows a duration"}
		}
		return base * t.factor, true, nil
	}
	value, set := lookup(t.env)
	if !set {
		return t.millis, true, nil
	}
	trimmed := strings.TrimFunc(value, isWhiteSpace)
	number, err := strconv.ParseUint(strings.TrimPrefix(trimmed, "+"), 10, 64)
	if err != nil {
		return 0, false, &TTLError{Var: t.env, Value: value, Reason: "is not a whole number of " + t.perUnit}
	}
	if number != 0 && number > math.MaxUint64/t.unit {
		return 0, false, &TTLError{Var: t.env, Value: value, Reason: "overflows a duration"}
	}
	if number == 0 {
		return 0, false, &TTLError{Var: t.env, Value: value, Reason: "gives a TTL of zero, which deletes every key it is applied to"}
	}
	return number * t.unit, true, nil
}

// ResolveEnv is Resolve with the process's environment, as a time.Duration.
func (t TTL) ResolveEnv() (time.Duration, bool, error) {
	millis, expires, err := t.Resolve(os.LookupEnv)
	if err != nil || !expires {
		return 0, expires, err
	}
	if millis > math.MaxInt64/uint64(time.Millisecond) {
		return 0, false, &TTLError{Var: t.Env(), Value: strconv.FormatUint(millis, 10), Reason: "overflows a time.Duration"}
	}
	return time.Duration(millis) * time.Millisecond, true, nil
}

// isWhiteSpace is Unicode's White_Space property, which Rust's str::trim uses.
func isWhiteSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}
