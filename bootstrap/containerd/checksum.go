package containerd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/hybridnode/hybridnode/assets"
)

// The second line of a rendered config.toml records the sha256 of the
// lines after it, so that a later run can tell the file as hybridnode
// wrote it from one that was edited since (by `nvidia-ctk runtime
// configure`, say, or by hand), and refuse to overwrite the edit.
const (
	checksumPrefix = "# sha256:"
	checksumSuffix = " of the lines below. hybridnode does not overwrite this file once they change: it stops and says so."
)

// withChecksum inserts the checksum line after out's first line (the header).
func withChecksum(out []byte) []byte {
	head, body, _ := bytes.Cut(out, []byte("\n"))
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	b.Grow(len(out) + len(checksumPrefix) + 64 + len(checksumSuffix) + 2)
	b.Write(head)
	b.WriteString("\n" + checksumPrefix + hex.EncodeToString(sum[:]) + checksumSuffix + "\n")
	b.Write(body)
	return b.Bytes()
}

// Changed reports whether data, the config.toml on a host, was changed by
// anyone but hybridnode since hybridnode wrote it, and if so how:
//
//   - an empty file holds nothing to lose: not changed;
//   - a file without hybridnode's header (assets.Header) is someone
//     else's: changed (another installation's config, or one that a tool
//     rewrote without keeping comments, as nvidia-ctk does);
//   - a file with the header and the checksum line is changed when the
//     lines after it no longer have that sha256;
//   - a file with the header and no checksum line was written by a
//     hybridnode before this check (whose header said edits are
//     overwritten): not changed.
func Changed(data []byte) (bool, string) {
	if len(bytes.TrimSpace(data)) == 0 {
		return false, ""
	}
	rest, ok := bytes.CutPrefix(data, []byte(assets.Header+"\n"))
	if !ok {
		return true, "was not written by hybridnode (its first line is not hybridnode's header)"
	}
	line, body, _ := bytes.Cut(rest, []byte("\n"))
	if !bytes.HasPrefix(line, []byte(checksumPrefix)) {
		return false, ""
	}
	recorded, _, _ := bytes.Cut(bytes.TrimPrefix(line, []byte(checksumPrefix)), []byte(" "))
	if _, err := hex.DecodeString(string(recorded)); err != nil || len(recorded) != 2*sha256.Size {
		return true, "was changed after hybridnode wrote it (its second line no longer holds the sha256 hybridnode recorded there)"
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); string(recorded) != got {
		return true, fmt.Sprintf("was changed after hybridnode wrote it (the sha256 of its lines after the second is %s, not the %s hybridnode recorded there)", short(got), short(string(recorded)))
	}
	return false, ""
}

// short is a sha256 for a message: its first 12 hex digits.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}
