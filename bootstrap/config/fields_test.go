package config

import (
	"reflect"
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
