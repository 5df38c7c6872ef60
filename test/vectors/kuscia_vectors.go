// Generates the Kuscia handshake test vectors in kuscia-vectors.json with Go's
// crypto (what Kuscia's gateway uses), so Ferry's TypeScript is checked against
// an independent implementation: go run kuscia_vectors.go [ciphertext-from-node]
// With an argument it decrypts a Node-made ciphertext and prints the token half.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
)

func main() {
	raw, err := os.ReadFile("kuscia-vector-rsa.key")
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(raw)
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	prefix := []byte("kuscia")
	if len(os.Args) > 1 {
		ct, _ := base64.StdEncoding.DecodeString(os.Args[1])
		plain := make([]byte, len(prefix)+16)
		if _, err := rand.Read(plain); err != nil {
			panic(err)
		}
		if err := rsa.DecryptPKCS1v15SessionKey(rand.Reader, key, ct, plain); err != nil {
			panic(err)
		}
		fmt.Printf("%s %s\n", plain[:len(prefix)], base64.StdEncoding.EncodeToString(plain[len(prefix):]))
		return
	}
	pubPem := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)})
	sum := sha256.Sum256(pubPem)
	half := []byte("0123456789abcdef")
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, append(append([]byte{}, prefix...), half...))
	if err != nil {
		panic(err)
	}
	out, _ := json.MarshalIndent(map[string]string{
		"publicKeyPem": string(pubPem),
		"pubhash":      base64.StdEncoding.EncodeToString(sum[:]),
		"half":         base64.StdEncoding.EncodeToString(half),
		"ciphertext":   base64.StdEncoding.EncodeToString(ct),
	}, "", "  ")
	fmt.Println(string(out))
}
