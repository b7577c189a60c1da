package ssh

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr string // a part of the error; the input is always named
	}{
		{in: "ssh://pi@raspberrypi.local:2222", want: Target{User: "pi", Host: "raspberrypi.local", Port: 2222}},
		{in: "ssh://host", want: Target{Host: "host"}},
		{in: "ssh://pi@host", want: Target{User: "pi", Host: "host"}},
		{in: "pi@host", want: Target{User: "pi", Host: "host"}},
		{in: "host", want: Target{Host: "host"}},
		{in: "10.0.0.7", want: Target{Host: "10.0.0.7"}},
		{in: "ssh://user@[::1]:2222", want: Target{User: "user", Host: "::1", Port: 2222}},
		{in: "user@[::1]", want: Target{User: "user", Host: "::1"}},
		{in: "[fe80::1%eth0]", want: Target{Host: "fe80::1%eth0"}},
		{in: "ssh://a%40b@host", want: Target{User: "a@b", Host: "host"}},
		{in: "ssh://host:0", wantErr: `bad port "0"`},
		{in: "ssh://host:65536", wantErr: `bad port "65536"`},
		{in: "ssh://host:ssh", wantErr: `bad port "ssh"`},
		{in: "ssh://host:", wantErr: "empty port"},
		{in: "ssh://pi@", wantErr: "empty host"},
		{in: "ssh://", wantErr: "empty host"},
		{in: "", wantErr: "empty host"},
		{in: "@host", wantErr: "empty user"},
		{in: "ssh://pi@host/home/pi", wantErr: `"/home/pi" after the host`},
		{in: "ssh://pi@host:22/", wantErr: `"/" after the host`},
		{in: "pi@host:2222", wantErr: "ssh://host:2222"},
		{in: "::1", wantErr: "brackets"},
		{in: "ssh://[::1", wantErr: "missing ]"},
		{in: "ssh://[host]", wantErr: "not an IPv6 address"},
		{in: "ssh://[::1]x", wantErr: `unexpected "x"`},
		{in: "http://host", wantErr: "only ssh://"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Fatalf("ParseTarget(%q) = %+v, %v; want an error naming the input and saying %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTarget(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestTargetStringRoundTrip(t *testing.T) {
	for _, in := range []string{"ssh://pi@host:2222", "ssh://host", "ssh://user@[::1]:2222", "ssh://a%40b@h"} {
		tg, err := ParseTarget(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := tg.String(); got != in {
			t.Errorf("ParseTarget(%q).String() = %q", in, got)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"ssh://pi@host:22", "user@[::1]", "host", "ssh://[::1]:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		back, err := ParseTarget(tg.String())
		if err != nil || back != tg {
			t.Fatalf("ParseTarget(%q) = %+v, whose String %q parses to %+v, %v", s, tg, tg.String(), back, err)
		}
	})
}
