package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
)

// do sends one request as the user agent agent ("" is authload/1) and
// decodes a JSON answer into out (when 2xx).
func (r *runner) do(ctx context.Context, agent, method, path string, body any, bearer string, out any) (int, error) {
	if agent == "" {
		agent = "authload/1"
	}
	var buf []byte
	if body != nil {
		buf, _ = json.Marshal(body)
	}
	n := len(r.cfg.URLs)
	first := int(r.next.Add(1) % uint64(n))
	var err error
	for i := range n {
		base := r.cfg.URLs[(first+i)%n]
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(buf))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("User-Agent", agent)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		var res *http.Response
		res, err = r.client.Do(req)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // nothing was sent: the next replica
			}
			return 0, err
		}
		defer res.Body.Close()
		b, rerr := io.ReadAll(res.Body)
		if rerr != nil {
			return 0, rerr
		}
		if res.StatusCode/100 == 2 && out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return res.StatusCode, fmt.Errorf("decode %s: %w", path, err)
			}
		}
		return res.StatusCode, nil
	}
	return 0, err
}

// do sends one request of the actor's user, with the user's own user
// agent: a deleted user's can be looked for after the deletion.
func (a *actor) do(ctx context.Context, method, path string, body any, bearer string, out any) (int, error) {
	return a.r.do(ctx, a.agent, method, path, body, bearer, out)
}
