package alertmanager

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A Content-Length above the upload bound is refused before the body is read.
func TestReadBodyRefusesDeclaredLength(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, ConfigPath, strings.NewReader("alertmanager_config: x\n"))
	r.ContentLength = maxBodyBytes + 1
	_, err := readBody(r)
	require.ErrorContains(t, err, "err-weft-alertmanager-body-too-large")
}
