package aws

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// plainBodyClient hides io.WriterTo of request bodies from net/http.
//
// Why: smithy-go closes the request body as soon as http.Client.Do returns,
// and once closed its body's WriteTo returns io.EOF as an error. net/http's
// write loop copies the (already empty) rest of the body once more after
// the last byte went out; when the response has already arrived (a server
// that answers within microseconds, such as the loopback emulator), that
// copy fails and net/http closes the connection under the response body
// being read: "use of closed network connection" in the middle of any
// response longer than one read (about 4 KB). Through plain Read a closed
// body reads as (0, io.EOF), the normal end of the body.
type plainBodyClient struct{ c ec2.HTTPClient }

type plainBody struct{ io.ReadCloser }

func (p plainBodyClient) Do(r *http.Request) (*http.Response, error) {
	if _, ok := r.Body.(io.WriterTo); ok {
		r.Body = plainBody{r.Body}
	}
	return p.c.Do(r)
}

// plainRequestBody is the per-operation option that installs plainBodyClient
// on an EC2 call (Config.HTTPClient is the caller's, so it is wrapped per call).
func plainRequestBody(o *ec2.Options) {
	if o.HTTPClient != nil {
		if _, ok := o.HTTPClient.(plainBodyClient); !ok {
			o.HTTPClient = plainBodyClient{o.HTTPClient}
		}
	}
}
