package flash

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// parsePlist decodes an XML property list, as `diskutil -plist` prints, into
// map[string]any, []any, string, int64, float64 and bool values. Data and
// dates are kept as their text.
func parsePlist(data []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("reading plist: %w", err)
		}
		if start, ok := tok.(xml.StartElement); ok && start.Name.Local != "plist" {
			return plistValue(d, start)
		}
	}
}

func plistValue(d *xml.Decoder, start xml.StartElement) (any, error) {
	switch start.Name.Local {
	case "dict":
		m := map[string]any{}
		key := ""
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, fmt.Errorf("reading plist dict: %w", err)
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return m, nil
			case xml.StartElement:
				if t.Name.Local == "key" {
					if err := d.DecodeElement(&key, &t); err != nil {
						return nil, fmt.Errorf("reading plist key: %w", err)
					}
					continue
				}
				v, err := plistValue(d, t)
				if err != nil {
					return nil, err
				}
				m[key] = v
			}
		}
	case "array":
		var a []any
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, fmt.Errorf("reading plist array: %w", err)
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return a, nil
			case xml.StartElement:
				v, err := plistValue(d, t)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
		}
	case "true", "false":
		return start.Name.Local == "true", d.Skip()
	}
	var text string
	if err := d.DecodeElement(&text, &start); err != nil {
		return nil, fmt.Errorf("reading plist %s: %w", start.Name.Local, err)
	}
	text = strings.TrimSpace(text)
	switch start.Name.Local {
	case "integer":
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reading plist integer: %w", err)
		}
		return n, nil
	case "real":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("reading plist real: %w", err)
		}
		return f, nil
	}
	return text, nil
}

// plistDict is a plist dictionary with typed getters that return the zero
// value for a missing key or a value of another type.
type plistDict map[string]any

func asDict(v any) (plistDict, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("plist is not a dictionary")
	}
	return m, nil
}

func (p plistDict) str(key string) string { s, _ := p[key].(string); return s }
func (p plistDict) num(key string) int64  { n, _ := p[key].(int64); return n }
func (p plistDict) flag(key string) bool  { b, _ := p[key].(bool); return b }
func (p plistDict) has(key string) bool   { _, ok := p[key]; return ok }
func (p plistDict) dicts(key string) []plistDict {
	a, _ := p[key].([]any)
	var out []plistDict
	for _, v := range a {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
