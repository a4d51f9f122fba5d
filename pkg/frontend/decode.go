package frontend

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// errSyntax makes decodeFast give way to encoding/json, which reports
// the error properly (or reads a form the fast path does not know).
var errSyntax = errors.New("unexpected JSON")

// decodeFast decodes a querier's range query answer in one pass over
// its bytes: encoding/json with model's types unmarshals each sample with
// a nested json.Unmarshal, which costs more than the query on small
// answers. It reads the shapes Prometheus writes; anything else is
// errSyntax.
func decodeFast(body []byte) (*Result, error) {
	p := &jsonParser{b: body}
	res := &Result{}
	var status, resultType string
	err := p.object(func(key string) error {
		switch key {
		case "status":
			var err error
			status, err = p.str()
			return err
		case "data":
			return p.object(func(key string) error {
				switch key {
				case "resultType":
					var err error
					resultType, err = p.str()
					return err
				case "result":
					m, err := p.matrix()
					res.Matrix = m
					return err
				}
				return p.skip()
			})
		case "warnings":
			var err error
			res.Warnings, err = p.strings()
			return err
		case "infos":
			var err error
			res.Infos, err = p.strings()
			return err
		}
		return p.skip()
	})
	if err != nil {
		return nil, err
	}
	if p.ws(); p.i != len(p.b) || status != "success" || resultType != string(model.ValMatrix.String()) {
		return nil, errSyntax
	}
	if res.Matrix == nil {
		res.Matrix = model.Matrix{}
	}
	return res, nil
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (p *jsonParser) next() byte {
	p.ws()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

func (p *jsonParser) expect(c byte) error {
	if p.next() != c {
		return errSyntax
	}
	p.i++
	return nil
}

// object reads {"key": value, ...}, calling field to read each value.
func (p *jsonParser) object(field func(key string) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.next() == '}' {
		p.i++
		return nil
	}
	for {
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch p.next() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// array reads [elem, ...], calling elem to read each element.
func (p *jsonParser) array(elem func() error) error {
	if err := p.expect('['); err != nil {
		return err
	}
	if p.next() == ']' {
		p.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch p.next() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// str reads a string, unescaping it.
func (p *jsonParser) str() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", errSyntax
		}
		p.i++
	}
	return "", errSyntax
}

func (p *jsonParser) strEscaped(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", errSyntax
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", errSyntax
			}
			if utf16.IsSurrogate(r) {
				r2 := unicodeReplacement
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					p.i += 2
					if lo, ok := p.hex4(); ok {
						r2 = utf16.DecodeRune(r, lo)
					}
				}
				r = r2
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

const unicodeReplacement = '\uFFFD'

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

func (p *jsonParser) strings() ([]string, error) {
	var out []string
	err := p.array(func() error {
		s, err := p.str()
		out = append(out, s)
		return err
	})
	return out, err
}

// number returns the bytes of a number.
func (p *jsonParser) number() ([]byte, error) {
	p.ws()
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			p.i++
			continue
		}
		break
	}
	if p.i == start {
		return nil, errSyntax
	}
	return p.b[start:p.i], nil
}

// pointTime reads the start of a point, `[<timestamp>,`, up to its value.
func (p *jsonParser) pointTime() (int64, error) {
	if err := p.expect('['); err != nil {
		return 0, err
	}
	ts, err := p.timestamp()
	if err != nil {
		return 0, err
	}
	return ts, p.expect(',')
}

// timestamp reads seconds as Prometheus writes them (1435781451.781)
// and returns milliseconds, exactly.
func (p *jsonParser) timestamp() (int64, error) {
	tok, err := p.number()
	if err != nil {
		return 0, err
	}
	neg := false
	if tok[0] == '-' {
		neg, tok = true, tok[1:]
	}
	var sec, frac int64
	i := 0
	for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
		sec = sec*10 + int64(tok[i]-'0')
		if sec > math.MaxInt64/10000 {
			return 0, errSyntax
		}
	}
	if i == 0 {
		return 0, errSyntax
	}
	if i < len(tok) {
		if tok[i] != '.' || len(tok)-i-1 > 3 || len(tok)-i-1 == 0 {
			return 0, errSyntax // an exponent or sub-millisecond digits
		}
		digits := 0
		for i++; i < len(tok); i++ {
			if tok[i] < '0' || tok[i] > '9' {
				return 0, errSyntax
			}
			frac = frac*10 + int64(tok[i]-'0')
			digits++
		}
		for ; digits < 3; digits++ {
			frac *= 10
		}
	}
	ms := sec*1000 + frac
	if neg {
		ms = -ms
	}
	return ms, nil
}

// floatStr reads a float written as a string ("1.5", "NaN", "+Inf").
func (p *jsonParser) floatStr() (float64, error) {
	if err := p.expect('"'); err != nil {
		return 0, err
	}
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != '"' {
		p.i++
	}
	if p.i >= len(p.b) {
		return 0, errSyntax
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	p.i++
	if err != nil {
		return 0, errSyntax
	}
	return f, nil
}

func (p *jsonParser) matrix() (model.Matrix, error) {
	m := model.Matrix{}
	err := p.array(func() error {
		s := &model.SampleStream{}
		err := p.object(func(key string) error {
			switch key {
			case "metric":
				s.Metric = model.Metric{}
				return p.object(func(name string) error {
					v, err := p.str()
					s.Metric[model.LabelName(name)] = model.LabelValue(v)
					return err
				})
			case "values":
				return p.array(func() error {
					ts, err := p.pointTime()
					if err != nil {
						return err
					}
					v, err := p.floatStr()
					if err != nil {
						return err
					}
					s.Values = append(s.Values, model.SamplePair{Timestamp: model.Time(ts), Value: model.SampleValue(v)})
					return p.expect(']')
				})
			case "histograms":
				return p.array(func() error {
					ts, err := p.pointTime()
					if err != nil {
						return err
					}
					h, err := p.histogram()
					if err != nil {
						return err
					}
					s.Histograms = append(s.Histograms, model.SampleHistogramPair{Timestamp: model.Time(ts), Histogram: h})
					return p.expect(']')
				})
			}
			return p.skip()
		})
		if s.Metric == nil {
			s.Metric = model.Metric{}
		}
		m = append(m, s)
		return err
	})
	return m, err
}

func (p *jsonParser) histogram() (*model.SampleHistogram, error) {
	h := &model.SampleHistogram{}
	err := p.object(func(key string) error {
		var err error
		var f float64
		switch key {
		case "count":
			f, err = p.floatStr()
			h.Count = model.FloatString(f)
		case "sum":
			f, err = p.floatStr()
			h.Sum = model.FloatString(f)
		case "buckets":
			err = p.array(func() error {
				if err := p.expect('['); err != nil {
					return err
				}
				tok, err := p.number()
				if err != nil {
					return err
				}
				bnd, err := strconv.ParseInt(string(tok), 10, 32)
				if err != nil {
					return errSyntax
				}
				b := &model.HistogramBucket{Boundaries: int32(bnd)}
				for _, dst := range []*model.FloatString{&b.Lower, &b.Upper, &b.Count} {
					if err := p.expect(','); err != nil {
						return err
					}
					f, err := p.floatStr()
					if err != nil {
						return err
					}
					*dst = model.FloatString(f)
				}
				h.Buckets = append(h.Buckets, b)
				return p.expect(']')
			})
		default:
			err = p.skip()
		}
		return err
	})
	return h, err
}

// skip reads over any value.
func (p *jsonParser) skip() error {
	switch c := p.next(); {
	case c == '{':
		return p.object(func(string) error { return p.skip() })
	case c == '[':
		return p.array(p.skip)
	case c == '"':
		_, err := p.str()
		return err
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return nil
			}
		}
		return errSyntax
	default:
		_, err := p.number()
		return err
	}
}
