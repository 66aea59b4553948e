package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestFieldKinds holds the table's flag kinds to the Config field types.
func TestFieldKinds(t *testing.T) {
	kinds := map[reflect.Type]Kind{
		reflect.TypeFor[bool]():     KindBool,
		reflect.TypeFor[int]():      KindInt,
		reflect.TypeFor[Duration](): KindDuration,
	}
	for _, f := range Fields {
		want := kinds[value(&Config{}, f.Key).Type()] // KindString when not listed
		if f.Kind != want {
			t.Errorf("%s: Kind %s, want %s", f.Key, f.Kind, want)
		}
	}
}

func TestParseFlag(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string // want: "" when the value is good
	}{
		{"joinAttempts", "3", ""},
		{"joinAttempts", "x", `--join-attempts: got "x", want a whole number`},
		{"joinTimeout", "90s", ""},
		{"joinTimeout", "300", `--join-timeout: got "300", want a duration such as 5m or 90s`},
		{"restrictOOMScoreAdj", "true", ""},
		{"restrictOOMScoreAdj", "", ""},
		{"restrictOOMScoreAdj", "yes", `--restrict-oom-score-adj: got "yes", want true or false`},
		{"nodeName", "anything", ""},
	} {
		f, _ := FieldByKey(tc.key)
		err := f.ParseFlag(tc.value)
		var ce *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %q: %v", tc.key, tc.value, err)
		case tc.want != "" && (!errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %q: error %v, want a *Error with %q", tc.key, tc.value, err, tc.want)
		}
	}
}
