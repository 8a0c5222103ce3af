package lambdafn

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A JSON string is text: Go's encoding/json (and every JSON decoder that
// follows RFC 8259) replaces bytes that are not UTF-8, and escapes of lone
// UTF-16 surrogates such as \ud800, with U+FFFD. Publishing what it
// decodes would alter the record silently, so checkText refuses such an
// event first, naming the field; bytes travel as {"base64": "..."}.

// badTextFix is the fix checkText's errors give.
const badTextFix = `a JSON string carries text, and decoding it would replace that with U+FFFD: send bytes base64-encoded ({"base64": "..."} in a direct invoke, application/vnd.kafka.binary.v2+json or isBase64Encoded through API Gateway)`

// checkText returns an *InputError naming the first string of the JSON
// value data (a key or a value, at any depth) that is not valid UTF-8 or
// holds a lone surrogate escape, with field as the path of data ("" for
// an event). Data that is not valid JSON gets nil: its parser reports it.
// Plain UTF-8 without \u escapes (almost every event) costs one pass of
// utf8.Valid and one of bytes.Index.
func checkText(data []byte, field string) error {
	if utf8.Valid(data) && bytes.Index(data, []byte(`\u`)) < 0 {
		return nil
	}
	off, why := badString(data)
	if off < 0 || !json.Valid(data) {
		return nil
	}
	path, key := pathAt(data, skipSpace(data, 0), off, field)
	if key {
		return inputErrorf(path, "a member name %s: %s", why, badTextFix)
	}
	return inputErrorf(path, "%s: %s", why, badTextFix)
}

// badString returns the offset of the first string in data whose content
// is not valid UTF-8 or has a lone surrogate escape, and why; -1 if none.
// Outside strings, valid JSON has no '"', so every '"' found outside one
// opens one.
func badString(data []byte) (int, string) {
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		start := i
		for i++; i < len(data) && data[i] != '"'; {
			switch c := data[i]; {
			case c == '\\':
				if i+1 < len(data) && data[i+1] == 'u' {
					n := escapeLen(data[i:])
					if n == 0 {
						return start, "has a lone UTF-16 surrogate escape (" + string(data[i:min(i+6, len(data))]) + "), which is no character"
					}
					i += n
					continue
				}
				i += 2
			case c < utf8.RuneSelf:
				i++
			default:
				r, n := utf8.DecodeRune(data[i:])
				if r == utf8.RuneError && n <= 1 {
					return start, "is not valid UTF-8 (byte 0x" + strconv.FormatUint(uint64(c), 16) + ")"
				}
				i += n
			}
		}
	}
	return -1, ""
}

// escapeLen returns the length of the \uXXXX escape (or surrogate pair of
// escapes) at the start of b, or 0 for a lone surrogate. A malformed
// escape counts as 6 bytes: json.Valid rejects it anyway.
func escapeLen(b []byte) int {
	r, ok := hex4(b)
	if !ok {
		return min(6, len(b))
	}
	if !utf16.IsSurrogate(r) {
		return 6
	}
	if r < 0xdc00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if r2, ok := hex4(b[6:]); ok && utf16.DecodeRune(r, r2) != utf8.RuneError {
			return 12
		}
	}
	return 0
}

// hex4 reads the four hex digits of the \uXXXX escape at b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 6 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[2:6]), 16, 32)
	return rune(v), err == nil
}

// pathAt returns the JSON path (records[3].value) of the innermost value of
// the valid JSON at data[i:] that contains offset off, under path; key is
// set when off is a member name's, the path then being its object's.
func pathAt(data []byte, i, off int, path string) (string, bool) {
	switch data[i] {
	case '{':
		j := skipSpace(data, i+1)
		for j < len(data) && data[j] != '}' {
			kend := skipValue(data, j)
			if off >= j && off < kend {
				return path, true
			}
			var name string
			json.Unmarshal(data[j:kend], &name)
			j = skipSpace(data, skipSpace(data, kend)+1) // after ':'
			vend := skipValue(data, j)
			if off >= j && off < vend {
				return pathAt(data, j, off, join(path, name))
			}
			j = skipSpace(data, vend)
			if j < len(data) && data[j] == ',' {
				j = skipSpace(data, j+1)
			}
		}
	case '[':
		j := skipSpace(data, i+1)
		for n := 0; j < len(data) && data[j] != ']'; n++ {
			vend := skipValue(data, j)
			if off >= j && off < vend {
				return pathAt(data, j, off, path+"["+strconv.Itoa(n)+"]")
			}
			j = skipSpace(data, vend)
			if j < len(data) && data[j] == ',' {
				j = skipSpace(data, j+1)
			}
		}
	}
	return path, false
}
