"""The sandbox's RSA key pair for T-Bank ``CardData`` (PCI DSS flows), generated for the sandbox.

It is public on purpose: it only ever protects test cards sent to the offline sandbox, which
decrypts them to decide how a test card behaves. Never use it for anything else.
"""

N = int(
    "a3a81239a69ccf2e24b5aa963e2668ed6000aff6891d484089195580e12b169e67fa5f0fafefd955"
    "4a7efd7044ae18f2147ce22571b024f0f5263fd03e424f7f5b272245bd1a6d8c3a482f6ba8c47edc"
    "2d6f21db01ccabeaa9ebd14d72ed9a39f0e7e8221669e85b71dd52f1273338965058c2dd65e53061"
    "61903641395def90d66e4ceb9d6126c029da4ee31a074de2602af84f6077081dd191272294cb9baa"
    "f2c28517b50bdcace2d3fdc103f9c3fadee425b10672d2923ab52ec9046455f4124cc9c9aedd8877"
    "e97e10af224aa4939754cae0aaac499f98d2b82b156d5727f0c1873629bbadf4f78704ef8f89b7ef"
    "54130b3e44b40ce073bfa570bd2922ef", 16)
D = int(
    "1ac089a224eb332ececf678041ce938e62081abb89346130337911b20c9cb788d364690fae69ddb4"
    "048677b55774c21d285e35b57b3d18fcce861f1e525f1291b5fbd2ad65b921392ff9c6cea97add65"
    "ee83611c64d1e93465ec677d6a910e89f4286498d5e320197aa67c3d7173fd070d4145315dcbb639"
    "e4f1e6fc887d2380dda787fb6a06b14cc26cf2feca403946f00d16a62cd8f88180d2e7547e3af2a0"
    "e347f7a273b1c6358fc52e06392bca2f7beec9f28804ce7e062b60d24c5d75bae4c9dcbe0be592ef"
    "f599fda1bcea926b2fba6205dd3a21f75da306ff6031e7542c9b5a93fa1da3397516dd2d748374d7"
    "48af22fe847590823181cdeacb2e0d69", 16)
