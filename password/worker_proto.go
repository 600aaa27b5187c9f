package password

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/argon2"
)

// The protocol between the API and a hash worker, over the worker's
// standard input and output. Every message is a frame: a 4-byte big-endian
// length, then that many bytes.
//
//	request: memory u32, iterations u32, parallelism u8, key length u32,
//	         salt length u8, salt, password (the rest)
//	reply:   nanoseconds the hash took u64, key (the rest)
//
// Once started, the worker sends one frame, hello, so that the API knows
// the binary speaks this protocol and is ready. It then answers requests
// one at a time, in order. It has no error reply: a request it cannot
// serve ends the process, and the API sees the pipe close.
const (
	hello         = "authevents-hash-worker/1"
	requestHeader = 4 + 4 + 1 + 4 + 1
	// maxFrame bounds a request (the API bounds request bodies far lower).
	maxFrame = 1 << 20
)

var errFrame = errors.New("password: malformed hash worker frame")

// appendRequest appends the request frame for one key computation to b.
func appendRequest(b, password, salt []byte, p Params, keyLen uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(requestHeader+len(salt)+len(password)))
	b = binary.BigEndian.AppendUint32(b, p.Memory)
	b = binary.BigEndian.AppendUint32(b, p.Iterations)
	b = append(b, p.Parallelism)
	b = binary.BigEndian.AppendUint32(b, keyLen)
	b = append(b, byte(len(salt)))
	b = append(b, salt...)
	return append(b, password...)
}

// parseRequest reads a request frame's body and checks its parameters
// against the package bounds before anything is allocated for them.
func parseRequest(body []byte) (password, salt []byte, p Params, err error) {
	if len(body) < requestHeader {
		return nil, nil, p, errFrame
	}
	p.Memory = binary.BigEndian.Uint32(body)
	p.Iterations = binary.BigEndian.Uint32(body[4:])
	p.Parallelism = body[8]
	p.KeyLength = binary.BigEndian.Uint32(body[9:])
	n := int(body[13])
	rest := body[requestHeader:]
	if len(rest) < n {
		return nil, nil, p, errFrame
	}
	salt, password = rest[:n], rest[n:]
	p.SaltLength = uint32(n)
	if err := p.Validate(); err != nil {
		return nil, nil, p, err
	}
	return password, salt, p, nil
}

// readFrame reads one frame's body into buf (grown if needed).
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return nil, fmt.Errorf("%w: %d bytes", errFrame, size)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// ServeWorker is the whole of a hash worker process: it computes the
// argon2id key of each request read from in and writes the reply to out,
// until in ends (the API closed the pipe or died). It returns nil then,
// and an error for a request it cannot serve. It logs nothing: requests
// carry passwords.
func ServeWorker(in io.Reader, out io.Writer) error {
	r := bufio.NewReader(in)
	var body, reply []byte
	reply = binary.BigEndian.AppendUint32(reply, uint32(len(hello)))
	if _, err := out.Write(append(reply, hello...)); err != nil {
		return fmt.Errorf("hash worker: write hello: %w", err)
	}
	for {
		var err error
		body, err = readFrame(r, body)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("hash worker: read request: %w", err)
		}
		password, salt, p, err := parseRequest(body)
		if err != nil {
			return fmt.Errorf("hash worker: %w", err)
		}
		start := time.Now()
		key := argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
		took := time.Since(start)
		clear(body)
		reply = binary.BigEndian.AppendUint32(reply[:0], uint32(8+len(key)))
		reply = binary.BigEndian.AppendUint64(reply, uint64(took))
		reply = append(reply, key...)
		if _, err := out.Write(reply); err != nil {
			return fmt.Errorf("hash worker: write reply: %w", err)
		}
	}
}
