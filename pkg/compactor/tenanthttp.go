package compactor

import (
	"context"
	"errors"
	"net/http"
	"path"
	"time"

	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/httpapi"
)

// DeleteTenantHandler serves POST /compactor/delete_tenant: it marks the
// tenant of the request for deletion; the compactor that owns the tenant
// deletes every object of it once -compactor.tenant-deletion-delay passed.
// GET answers whether the tenant is marked and whether any of its blocks
// remain (for tools: JSON).
func DeleteTenantHandler(bkt objstore.Bucket, resolveTenant func(*http.Request) (string, error), now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := resolveTenant(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		switch r.Method {
		case http.MethodPost:
			if err := MarkTenantForDeletion(r.Context(), bkt, id, now()); err != nil {
				httpapi.WriteError(w, err)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		case http.MethodGet:
			marked, err := bkt.Exists(r.Context(), path.Join(id, TenantDeletionMarkName))
			if err != nil {
				httpapi.WriteError(w, err)
				return
			}
			blocks, err := hasBlocks(r.Context(), bkt, id)
			if err != nil {
				httpapi.WriteError(w, err)
				return
			}
			httpapi.WriteData(w, map[string]any{"tenant": id, "marked_for_deletion": marked, "blocks_deleted": !blocks})
		default:
			w.Header().Set("Allow", "GET, POST")
			httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed, "method not allowed: use POST to delete the tenant, GET for its status"))
		}
	})
}

var errFound = errors.New("found")

// hasBlocks reports whether any block of tenant is left in the bucket.
func hasBlocks(ctx context.Context, bkt objstore.Bucket, tenantID string) (bool, error) {
	err := bkt.Iter(ctx, tenantID+"/", func(name string) error {
		if ok, err := bkt.Exists(ctx, path.Join(name, "meta.json")); err == nil && ok {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}
