// Command cdlogcheck is an independent verifier for cdlog's checkpoints and proofs.
//
// It uses only golang.org/x/mod/sumdb/tlog and golang.org/x/mod/sumdb/note (Debian's
// golang-golang-x-mod-dev 0.7.0) and the Go standard library. It reads one JSON request
// file (see tests/test_interop_go.py) and prints one JSON result; it exits non-zero only
// when the request cannot be read.
//
// Caveats of x/mod 0.7.0 worked around here: TreeHash(0) returns zeros (the empty root is
// SHA-256 of nothing), ParseTree accepts only the go.sum origin (the checkpoint body is
// parsed here), and CheckTree rejects old size 0 (such requests are not sent).
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type request struct {
	Vkey         string        `json:"vkey"`
	Checkpoint   string        `json:"checkpoint"`
	WitnessVkeys []string      `json:"witness_vkeys"`
	Records      []string      `json:"records"`
	Inclusion    []inclusion   `json:"inclusion"`
	Consistency  []consistency `json:"consistency"`
	Notes        []string      `json:"notes"`
}

type inclusion struct {
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	LeafHash  string   `json:"leaf_hash"`
	Root      string   `json:"root"`
	Proof     []string `json:"proof"`
}

type consistency struct {
	Size1 int64    `json:"size1"`
	Size2 int64    `json:"size2"`
	Root1 string   `json:"root1"`
	Root2 string   `json:"root2"`
	Proof []string `json:"proof"`
}

type outcome struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type checkpointResult struct {
	outcome
	Origin    string           `json:"origin"`
	Size      int64            `json:"size"`
	Root      string           `json:"root"`
	Cosigners map[string]int64 `json:"cosigners"`
	TreeRoot  string           `json:"tree_root"`
}

type result struct {
	Checkpoint  checkpointResult `json:"checkpoint"`
	RecordRoots []string         `json:"record_roots"`
	Inclusion   []outcome        `json:"inclusion"`
	Consistency []outcome        `json:"consistency"`
	Notes       []outcome        `json:"notes"`
}

// cosigVerifier checks C2SP tlog-cosignature/v1 Ed25519 signatures (type 0x04):
// the signature is u64 timestamp || Ed25519 over "cosignature/v1\ntime <t>\n" + body.
type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	seen map[string]int64
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := []byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t))
	signed = append(signed, msg...)
	if !ed25519.Verify(v.key, signed, sig[8:]) {
		return false
	}
	v.seen[v.name] = int64(t)
	return true
}

func newCosigVerifier(vkey string, seen map[string]int64) (*cosigVerifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed witness vkey")
	}
	name, hexID, key64 := parts[0], parts[1], parts[2]
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return nil, errors.New("witness vkey is not an Ed25519 cosignature/v1 key")
	}
	id, err := hex.DecodeString(hexID)
	if err != nil || len(id) != 4 {
		return nil, errors.New("bad witness key id")
	}
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(raw)
	sum := h.Sum(nil)
	if !bytes.Equal(sum[:4], id) {
		return nil, errors.New("witness key id does not match the key")
	}
	return &cosigVerifier{name: name, hash: binary.BigEndian.Uint32(id), key: raw[1:], seen: seen}, nil
}

func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return h, err
	}
	if len(raw) != len(h) {
		return h, fmt.Errorf("hash is %d bytes", len(raw))
	}
	copy(h[:], raw)
	return h, nil
}

func parseHashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(list))
	for _, s := range list {
		h, err := parseHash(s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func emptyRoot() tlog.Hash {
	return tlog.Hash(sha256.Sum256(nil))
}

// treeRoots rebuilds the tree from the raw records with tlog.StoredHashes and returns
// TreeHash for every size 0..n.
func treeRoots(records [][]byte) ([]tlog.Hash, error) {
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	roots := []tlog.Hash{emptyRoot()}
	for n, rec := range records {
		hs, err := tlog.StoredHashes(int64(n), rec, reader)
		if err != nil {
			return nil, err
		}
		stored = append(stored, hs...)
		root, err := tlog.TreeHash(int64(n+1), reader)
		if err != nil {
			return nil, err
		}
		roots = append(roots, root)
	}
	return roots, nil
}

func checkCheckpoint(req request, roots []tlog.Hash) checkpointResult {
	var res checkpointResult
	fail := func(err error) checkpointResult {
		res.Error = err.Error()
		return res
	}
	v, err := note.NewVerifier(req.Vkey)
	if err != nil {
		return fail(err)
	}
	seen := map[string]int64{}
	verifiers := []note.Verifier{v}
	for _, wk := range req.WitnessVkeys {
		cv, err := newCosigVerifier(wk, seen)
		if err != nil {
			return fail(err)
		}
		verifiers = append(verifiers, cv)
	}
	n, err := note.Open([]byte(req.Checkpoint), note.VerifierList(verifiers...))
	if err != nil {
		return fail(err)
	}
	logSigned := false
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			logSigned = true
		}
	}
	if !logSigned {
		return fail(errors.New("not signed by the log key"))
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return fail(errors.New("malformed checkpoint body"))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return fail(errors.New("malformed checkpoint size"))
	}
	root, err := parseHash(lines[2])
	if err != nil {
		return fail(err)
	}
	if lines[0] != v.Name() {
		return fail(errors.New("origin is not the key name"))
	}
	res.Origin, res.Size, res.Root, res.Cosigners = lines[0], size, lines[2], seen
	if len(req.Records) > 0 {
		if size >= int64(len(roots)) {
			return fail(errors.New("checkpoint is larger than the records given"))
		}
		res.TreeRoot = roots[size].String()
		if roots[size] != root {
			return fail(errors.New("checkpoint root differs from the tree rebuilt by tlog"))
		}
	}
	res.OK = true
	return res
}

func checkInclusion(p inclusion) outcome {
	leaf, err := parseHash(p.LeafHash)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	root, err := parseHash(p.Root)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	proof, err := parseHashes(p.Proof)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	if err := tlog.CheckRecord(tlog.RecordProof(proof), p.TreeSize, root, p.LeafIndex, leaf); err != nil {
		return outcome{Error: err.Error()}
	}
	return outcome{OK: true}
}

func checkConsistency(p consistency) outcome {
	r1, err := parseHash(p.Root1)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	r2, err := parseHash(p.Root2)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	proof, err := parseHashes(p.Proof)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	if err := tlog.CheckTree(tlog.TreeProof(proof), p.Size2, r2, p.Size1, r1); err != nil {
		return outcome{Error: err.Error()}
	}
	return outcome{OK: true}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cdlogcheck REQUEST.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	records := make([][]byte, 0, len(req.Records))
	for _, r := range req.Records {
		raw, err := base64.StdEncoding.DecodeString(r)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		records = append(records, raw)
	}
	roots, err := treeRoots(records)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var res result
	for _, r := range roots {
		res.RecordRoots = append(res.RecordRoots, r.String())
	}
	if req.Checkpoint != "" {
		res.Checkpoint = checkCheckpoint(req, roots)
	}
	for _, p := range req.Inclusion {
		res.Inclusion = append(res.Inclusion, checkInclusion(p))
	}
	for _, p := range req.Consistency {
		res.Consistency = append(res.Consistency, checkConsistency(p))
	}
	for _, text := range req.Notes {
		r := req
		r.Checkpoint = text
		c := checkCheckpoint(r, roots)
		res.Notes = append(res.Notes, c.outcome)
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	os.Stdout.Write(append(out, '\n'))
}
