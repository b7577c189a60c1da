package ops

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Data is file content in a recipe. It marshals to JSON as a plain string
// when it is valid UTF-8 (so recipes stay readable) and as
// {"base64":"..."} otherwise, so any bytes round-trip.
type Data []byte

func (d Data) MarshalJSON() ([]byte, error) {
	if utf8.Valid(d) {
		return json.Marshal(string(d))
	}
	return json.Marshal(struct {
		Base64 string `json:"base64"`
	}{base64.StdEncoding.EncodeToString(d)})
}

func (d *Data) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = Data(s)
		return nil
	}
	var enc struct {
		Base64 *string `json:"base64"`
	}
	if err := json.Unmarshal(b, &enc); err != nil || enc.Base64 == nil {
		return fmt.Errorf("content: want a string or {\"base64\": ...}")
	}
	raw, err := base64.StdEncoding.DecodeString(*enc.Base64)
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}
	*d = raw
	return nil
}
