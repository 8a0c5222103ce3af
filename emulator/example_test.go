package emulator_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/iamauth"
)

// Start an emulated cluster with free ports and produce through its IAM
// listener with an iamauth provider, as a Lambda function would against MSK.
func Example() {
	ctx := context.Background()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	id := c.Identities()[0] // the default identity, allowed kafka-cluster:*
	p, err := iamauth.New(ctx, iamauth.WithRegion(c.Region()),
		iamauth.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: id.AccessKeyID, SecretAccessKey: id.SecretAccessKey}, nil
		})))
	if err != nil {
		log.Fatal(err)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(c.Bootstrap(emulator.IAM), ",")...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: c.CAPool()}),
		kgo.SASL(p.OAuth()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("hello")}).First()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("acked at offset", r.Offset)
	// Output: acked at offset 0
}

// Faults are set per broker and listener at run time.
func ExampleListener_SetFaults() {
	c, err := emulator.Start(context.Background(), emulator.Ephemeral())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Listener(0, emulator.IAM).SetFaults(emulator.Faults{ResetAfterRequests: 5})
	c.Broker(1).Down()
	fmt.Println(c.Listener(1, emulator.IAM).Listening())
	// Output: false
}
