package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Kind is a class of failure of getting a token for the instance identity;
// each has an exit code of its own (bootstrap.ExitCode).
type Kind int

const (
	// MetadataUnreachable: the instance metadata service did not give the
	// identity document or its signature.
	MetadataUnreachable Kind = iota + 1
	// ServiceUnreachable: the token service could not be reached, did not
	// present the pinned key, or did not answer as the token service does.
	ServiceUnreachable
	// IdentityRefused: the service refused the identity (signature,
	// audience, stale signature, replay, instance mismatch, bad request).
	IdentityRefused
	// NotAllowed: the identity is valid but its account or region is not in
	// the service's allow-list.
	NotAllowed
)

func (k Kind) String() string {
	switch k {
	case MetadataUnreachable:
		return "metadata unreachable"
	case ServiceUnreachable:
		return "token service unreachable"
	case IdentityRefused:
		return "identity refused"
	case NotAllowed:
		return "not allowed"
	}
	return "unknown"
}

// Error is a failure to get a token for the instance identity: its Kind,
// the service's Reason when it refused, and a message saying what happened
// and what to do. It never holds the token.
type Error struct {
	Kind   Kind
	Reason Reason // the service's refusal; "" when it did not refuse
	Msg    string
	Err    error
	// retry: worth another attempt (a connection error, 5xx, 429);
	// retryAfter: the service's Retry-After.
	retry      bool
	retryAfter int
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of an *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// PinError is a token service whose certificate's public key is not the
// pinned one.
type PinError struct{ Want, Got string }

func (e *PinError) Error() string {
	return fmt.Sprintf("the token service's certificate has public key %s, not the pinned %s", e.Got, e.Want)
}

// clean makes a text from the service fit for a message: no control
// characters, at most 200 bytes.
func clean(s string) string { return Printable(strings.TrimSpace(s), ' ', 200) }

// Printable replaces control and bidirectional-override characters of s
// with repl and cuts it to at most max bytes (on a rune boundary, marked
// "…"): a text from the other side, fit for a message or a log line. The
// node and the token service both use it.
func Printable(s string, repl rune, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' {
			return repl
		}
		return r
	}, s)
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xc0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
