package cacheclient

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/grafana/dskit/cache"
	"github.com/grafana/dskit/flagext"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-io/weft/pkg/logutil"
)

// MemcachedConfig is the configuration of a memcached client.
type MemcachedConfig struct {
	// Addresses are host:port pairs, or dskit's DNS service discovery
	// forms (dns+host:port, dnssrv+_service._proto.host, ...).
	Addresses      flagext.StringSliceCSV `yaml:"addresses"`
	Timeout        time.Duration          `yaml:"timeout"`
	ConnectTimeout time.Duration          `yaml:"connect_timeout"`
	// MaxItemSize bounds what is stored: bigger values are not cached.
	MaxItemSize         int `yaml:"max_item_size"`
	MaxIdleConnections  int `yaml:"max_idle_connections"`
	MaxAsyncConcurrency int `yaml:"max_async_concurrency"`
	MaxAsyncBufferSize  int `yaml:"max_async_buffer_size"`
}

// NewMemcached creates dskit's memcached client; name is the "name" label
// of its metrics. It turns the panic of registering its metrics twice on
// reg into an error (callers should catch that case first with their own
// metrics, since dskit starts goroutines before registering that it then
// cannot stop).
func NewMemcached(cfg MemcachedConfig, name string, reg prometheus.Registerer, logger *slog.Logger) (c *cache.MemcachedClient, err error) {
	mc := cache.MemcachedClientConfig{
		Addresses:                            cfg.Addresses,
		AddressesLookupPeriod:                10 * time.Second,
		Timeout:                              cfg.Timeout,
		ConnectTimeout:                       cfg.ConnectTimeout,
		MinIdleConnectionsHeadroomPercentage: -1,
		MaxIdleConnections:                   cfg.MaxIdleConnections,
		MaxAsyncConcurrency:                  cfg.MaxAsyncConcurrency,
		MaxAsyncBufferSize:                   cfg.MaxAsyncBufferSize,
		MaxGetMultiConcurrency:               100,
		MaxGetMultiBatchSize:                 100,
		MaxItemSize:                          cfg.MaxItemSize,
	}
	defer func() {
		if r := recover(); r != nil {
			var are prometheus.AlreadyRegisteredError
			if e, ok := r.(error); ok && errors.As(e, &are) {
				c, err = nil, fmt.Errorf("its metrics are already registered (wrap the registerer with a distinguishing label): %w", e)
				return
			}
			panic(r)
		}
	}()
	return cache.NewMemcachedClientWithConfig(logutil.GoKit(logutil.OrNop(logger)), name, mc, reg)
}

// Validate reports a memcached configuration that cannot work; flagPrefix
// ("-store-gateway.cache.") names the flags in the messages.
func (m *MemcachedConfig) Validate(flagPrefix string) error {
	p := flagPrefix
	switch {
	case len(m.Addresses) == 0:
		return fmt.Errorf("the memcached cache needs %smemcached.addresses", p)
	case m.Timeout <= 0:
		return fmt.Errorf("%smemcached.timeout must be positive, not %s", p, m.Timeout)
	case m.ConnectTimeout <= 0:
		return fmt.Errorf("%smemcached.connect-timeout must be positive, not %s", p, m.ConnectTimeout)
	case m.MaxItemSize <= 0:
		return fmt.Errorf("%smemcached.max-item-size must be positive, not %d", p, m.MaxItemSize)
	case m.MaxAsyncConcurrency <= 0:
		return fmt.Errorf("%smemcached.max-async-concurrency must be positive, not %d", p, m.MaxAsyncConcurrency)
	case m.MaxAsyncBufferSize <= 0:
		return fmt.Errorf("%smemcached.max-async-buffer-size must be positive, not %d", p, m.MaxAsyncBufferSize)
	case m.MaxIdleConnections < 0:
		return fmt.Errorf("%smemcached.max-idle-connections must be 0 or more, not %d", p, m.MaxIdleConnections)
	}
	for _, a := range m.Addresses {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("%smemcached.addresses %q has an empty address", p, m.Addresses.String())
		}
	}
	return nil
}
