package proxy_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/proxy"
)

// A client without TLS or SASL produces to an IAM-only cluster (here the
// local emulator) through the proxy.
func ExampleStart() {
	ctx := context.Background()
	msk, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3))
	if err != nil {
		panic(err)
	}
	defer msk.Close()

	p, err := proxy.Start(ctx, kafkaconn.Config{
		Brokers:   msk.BootstrapAddrs(emulator.IAM),
		TLSCAFile: msk.CAFile(),
		Region:    msk.Region(),
		// Default: the AWS credential chain, or Profile / RoleARN.
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}, proxy.WithListen("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr()), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		panic(err)
	}
	fmt.Println("acked through", len(p.Brokers())-1, "broker listeners")
	// Output: acked through 3 broker listeners
}
