package tenant

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	f := func(id string, wantErr error) {
		t.Helper()
		err := Validate(id)
		if wantErr == nil {
			require.NoError(t, err, id)
			return
		}
		require.ErrorIs(t, err, wantErr, id)
	}
	f("team-a", nil)
	f("Team_A.prod(1)", nil)
	f("", ErrMissing)
	f("..", ErrInvalid)
	f("a/b", ErrInvalid)
	f("a b", ErrInvalid)
	f("__markers__", ErrInvalid)
	f("__alertmanager__", ErrInvalid) // weft's own prefixes of the bucket
	f("__", nil)
	f("__a", nil)
	f(string(make([]byte, MaxLength+1)), ErrInvalid)
}

func TestResolver(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	id, err := Resolver{MultiTenancy: false}.FromRequest(r)
	require.NoError(t, err)
	require.Equal(t, Anonymous, id)

	_, err = Resolver{MultiTenancy: true}.FromRequest(r)
	require.ErrorIs(t, err, ErrMissing)

	r.Header.Set(Header, "team-a")
	id, err = Resolver{MultiTenancy: true}.FromRequest(r)
	require.NoError(t, err)
	require.Equal(t, "team-a", id)
}

func TestResolverFederation(t *testing.T) {
	f := func(header string, federation bool, want string, wantErr error) {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(Header, header)
		id, err := Resolver{MultiTenancy: true, Federation: federation}.FromRequest(r)
		if wantErr != nil {
			require.ErrorIs(t, err, wantErr, header)
			return
		}
		require.NoError(t, err, header)
		require.Equal(t, want, id)
	}
	f("b|a", true, "a|b", nil)
	f("a|b|a", true, "a|b", nil)
	f("a", true, "a", nil)
	f("a|b", false, "", ErrInvalid)
	f("a||b", true, "", ErrMissing)
	f("a|..", true, "", ErrInvalid)
	require.Equal(t, []string{"a", "b"}, Split("a|b"))
	require.True(t, IsFederated("a|b"))
	require.False(t, IsFederated("a"))
}
