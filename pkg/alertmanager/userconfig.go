package alertmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	amcommon "github.com/prometheus/alertmanager/config/common"
	"github.com/prometheus/alertmanager/config/receiver"
	"github.com/prometheus/alertmanager/template"
	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
)

// UserConfig is a tenant's Alertmanager configuration as uploaded to
// /api/v1/alerts and kept in the bucket: Cortex's and Mimir's format, so
// their tools work unchanged.
type UserConfig struct {
	// AlertmanagerConfig is Alertmanager's own configuration file, as a
	// string.
	AlertmanagerConfig string `yaml:"alertmanager_config"`
	// TemplateFiles are the notification templates by file name; every
	// one is loaded, whatever the configuration's `templates` globs say
	// (they read no file of the server).
	TemplateFiles map[string]string `yaml:"template_files,omitempty"`
}

// maxBodyBytes bounds an upload whatever the tenant's limits: a body is
// held in memory whole while it is checked.
const maxBodyBytes = 16 << 20

// Bucket keys of a tenant's Alertmanager.
const (
	// bucketPrefix is a name no tenant may have (tenant.IsReserved), so
	// that the prefix never mixes with a tenant's blocks.
	bucketPrefix = "__alertmanager__/"
	configName   = "config.yaml"
	stateName    = "fullstate"
)

func configKey(tenantID string) string { return bucketPrefix + tenantID + "/" + configName }
func stateKey(tenantID string) string  { return bucketPrefix + tenantID + "/" + stateName }

// ParseUserConfig decodes an upload: YAML with exactly the keys of
// UserConfig. The error says what is wrong.
func ParseUserConfig(body []byte) (*UserConfig, error) {
	var uc UserConfig
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&uc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the body is empty: send YAML with alertmanager_config and template_files (err-weft-alertmanager-config-invalid)")
		}
		return nil, fmt.Errorf("cannot parse the configuration: %w (err-weft-alertmanager-config-invalid)", err)
	}
	return &uc, nil
}

// validate checks uc as the tenant's Alertmanager would load it, within
// lim, and returns the parsed configuration and templates. The error names
// the fault; every fault is the client's.
func validate(uc *UserConfig, lim *limits.Limits) (*amconfig.Config, *template.Template, error) {
	if strings.TrimSpace(uc.AlertmanagerConfig) == "" {
		return nil, nil, errors.New("alertmanager_config is empty (err-weft-alertmanager-config-invalid)")
	}
	if m := lim.AlertmanagerMaxConfigSizeBytes; m > 0 && len(uc.AlertmanagerConfig) > m {
		return nil, nil, fmt.Errorf("alertmanager_config is %d bytes, over the limit of %d: raise alertmanager_max_config_size_bytes / -alertmanager.max-config-size-bytes (err-weft-alertmanager-max-config-size)", len(uc.AlertmanagerConfig), m)
	}
	if m := lim.AlertmanagerMaxTemplatesCount; m > 0 && len(uc.TemplateFiles) > m {
		return nil, nil, fmt.Errorf("%d template files, over the limit of %d: raise alertmanager_max_templates_count / -alertmanager.max-templates-count (err-weft-alertmanager-max-templates-count)", len(uc.TemplateFiles), m)
	}
	names := make([]string, 0, len(uc.TemplateFiles))
	for name, content := range uc.TemplateFiles {
		if name == "" || name == "." || name == ".." || path.Base(name) != name || strings.Contains(name, `\`) {
			return nil, nil, fmt.Errorf("template file name %q is not a plain file name (err-weft-alertmanager-template-invalid)", name)
		}
		if m := lim.AlertmanagerMaxTemplateSizeBytes; m > 0 && len(content) > m {
			return nil, nil, fmt.Errorf("template file %q is %d bytes, over the limit of %d: raise alertmanager_max_template_size_bytes / -alertmanager.max-template-size-bytes (err-weft-alertmanager-max-template-size)", name, len(content), m)
		}
		names = append(names, name)
	}
	cfg, err := amconfig.Load(uc.AlertmanagerConfig)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid alertmanager_config: %w (err-weft-alertmanager-config-invalid)", err)
	}
	if err := checkNoFiles(reflect.ValueOf(cfg), ""); err != nil {
		return nil, nil, err
	}
	tmpl, err := template.New()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot load the default templates: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := tmpl.Parse(strings.NewReader(uc.TemplateFiles[name])); err != nil {
			return nil, nil, fmt.Errorf("template file %q does not parse: %w (err-weft-alertmanager-template-invalid)", name, err)
		}
	}
	if lim.AlertmanagerReceiversBlockPrivateAddresses {
		if err := checkAddresses(reflect.ValueOf(cfg), ""); err != nil {
			return nil, nil, err
		}
	}
	for _, rcv := range cfg.Receivers {
		if _, err := receiver.BuildReceiverIntegrations(rcv, tmpl, nil); err != nil {
			return nil, nil, fmt.Errorf("invalid receiver %q: %w (err-weft-alertmanager-config-invalid)", rcv.Name, err)
		}
	}
	return cfg, tmpl, nil
}

// checkNoFiles refuses every setting that names a file (password_file,
// ca_file, ...): the file would be read on the server, where the tenant
// has no business.
func checkNoFiles(v reflect.Value, where string) error {
	var found error
	walk(v, where, func(field reflect.StructField, fv reflect.Value, at string) bool {
		tag, _, _ := strings.Cut(field.Tag.Get("yaml"), ",")
		if strings.HasSuffix(tag, "_file") && fv.Kind() == reflect.String && fv.String() != "" {
			found = fmt.Errorf("%s: settings that read files of the server are not allowed; put the value in the configuration (err-weft-alertmanager-config-invalid)", at+tag)
			return false
		}
		return true
	})
	return found
}

// checkAddresses refuses receiver URLs and SMTP hosts that are on a
// loopback, private, link-local or unspecified address, or whose name
// resolves to one.
func checkAddresses(v reflect.Value, where string) error {
	var found error
	urlType, hpType := reflect.TypeFor[url.URL](), reflect.TypeFor[amcommon.HostPort]()
	tmplURLType := reflect.TypeFor[amcommon.SecretTemplateURL]()
	walk(v, where, func(field reflect.StructField, fv reflect.Value, at string) bool {
		for fv.Kind() == reflect.Pointer && !fv.IsNil() {
			fv = fv.Elem()
		}
		var host string
		switch fv.Type() {
		case urlType:
			u := fv.Interface().(url.URL)
			host = u.Hostname()
		case hpType:
			host = fv.Interface().(amcommon.HostPort).Host
		case tmplURLType:
			// A URL made by a template is known only when it is sent:
			// the dial checks it then.
			if s := fv.String(); !strings.Contains(s, "{{") {
				if u, err := url.Parse(s); err == nil {
					host = u.Hostname()
				}
			}
		default:
			return true
		}
		if host == "" {
			return true
		}
		if err := checkHost(host); err != nil {
			where := strings.TrimSuffix(at, ".")
			if tag, _, _ := strings.Cut(field.Tag.Get("yaml"), ","); tag != "" && !field.Anonymous {
				where = at + tag
			}
			found = fmt.Errorf("%s: %w (err-weft-alertmanager-private-address)", where, err)
			return false
		}
		return true
	})
	return found
}

// checkHost refuses host when it is, or resolves to, a blocked address. A
// name that does not resolve now passes: the dial checks it again.
func checkHost(host string) error {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return fmt.Errorf("%s is a loopback address, refused for this tenant", host)
	}
	if ip := net.ParseIP(host); ip != nil {
		if blockedIP(ip) {
			return fmt.Errorf("%s is a loopback or private address, refused for this tenant", host)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if blockedIP(a.IP) {
			return fmt.Errorf("%s resolves to %s, a loopback or private address, refused for this tenant", host, a.IP)
		}
	}
	return nil
}

// blockedIP reports whether a tenant that blocks private addresses may
// not reach ip.
func blockedIP(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified()
}

// blockingDial dials addr only when every address its host resolves to is
// allowed; receivers of tenants that block private addresses dial with it,
// so a name that resolves to a private address after the upload is still
// refused.
func blockingDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("cannot resolve %s", host)
	}
	for _, a := range addrs {
		if blockedIP(a.IP) {
			return nil, fmt.Errorf("cannot dial %s: %s is a loopback or private address, refused for this tenant (err-weft-alertmanager-private-address)", addr, a.IP)
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(addrs[0].IP.String(), port))
}

// walk calls fn for every exported struct field reachable from v, with the
// field's YAML path; fn returns false to stop.
func walk(v reflect.Value, at string, fn func(reflect.StructField, reflect.Value, string) bool) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return true
		}
		return walk(v.Elem(), at, fn)
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if !walk(v.Index(i), fmt.Sprintf("%s[%d].", strings.TrimSuffix(at, "."), i), fn) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !walk(it.Value(), fmt.Sprintf("%s%v.", at, it.Key()), fn) {
				return false
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			next := at
			if name != "" && !f.Anonymous {
				next = at + name + "."
			}
			if !fn(f, fv, at) {
				return false
			}
			if !walk(fv, next, fn) {
				return false
			}
		}
	}
	return true
}

// readBody reads an upload of at most maxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	tooLarge := httpapi.Errorf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes (err-weft-alertmanager-body-too-large)", maxBodyBytes)
	// A declared length above the limit is refused before anything is read.
	if r.ContentLength > maxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "cannot read the body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return nil, tooLarge
	}
	return body, nil
}
