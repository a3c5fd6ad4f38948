"""The D-Store syncProduct document's examples, verbatim (shared/seeds/dstore-syncProduct.txt).

Each text is what the document prints, character for character: its request bodies with
their inconsistent indentation, the sample code's one-line body, its response bodies, and
the "Modifiers" status update exactly as printed, which is not valid JSON (a comma after
the last field, no closing brace). Tests build the same bodies through the mapping and the
client and compare them with these, and drive the emulator with them.
"""

from __future__ import annotations

import json
from typing import Any

REQUEST_ID = "20231220bsefibb334"
ACCOUNT = "bk001"

# "Sync full product information", the six request examples: name -> (section, text).
FULL_SYNC_TEXTS = {
    "basic": ("Basic example", r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1",
    "name": "s1-name"
  },
  "products": [
    {
      "posProductId": "p1",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "chicken burger",
      "price": {"currency": "SGD", "value": 1000}
    }
  ]
}'''),
    "modifier": ("Modifier group", r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1",
    "name": "s1-name"
  },
  "products": [
    {
      "posProductId": "p1",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "cola",
      "price": {"currency": "SGD", "value": 1000},
      "subProducts": ["g1"]
    },
    {
      "posProductId": "g1",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "ice",
      "quantityRule": {"min": 0, "max": 1},
      "subProducts": ["p2", "p3"]
    },
    {
      "posProductId": "p2",
      "type": "MODIFIER",
      "status": "AVAILABLE",
      "name": "with ice",
      "price": {"currency": "SGD", "value": 0},
      "quantityRule": {"min": 0, "max": 1}
    },
    {
      "posProductId": "p3",
      "type": "MODIFIER",
      "status": "AVAILABLE",
      "name": "without ice",
      "price": {"currency": "SGD", "value": 0},
      "quantityRule": {"min": 0, "max": 1}
    }
  ]
}'''),
    "nested": ("Nested modifiers", r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1",
    "name": "s1-name"
  },
  "products": [
    {
      "posProductId": "p1",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "coffee",
      "price": {"currency": "SGD", "value": 0},
      "subProducts": ["g1"]
    },
    {
      "posProductId": "g1",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "hot/cold",
        "quantityRule": {"min": 0, "max": 1},
      "subProducts": ["p1-1", "p1-2"]
    },
    {
      "posProductId": "p1-1",
      "type": "MODIFIER",
      "status": "AVAILABLE",
      "name": "hot",
        "price": {"currency": "SGD", "value": 500},
      "quantityRule": {"min": 0, "max": 1}
    },
    {
      "posProductId": "p1-2",
      "type": "MODIFIER",
      "status": "AVAILABLE",
      "name": "cold",
        "price": {"currency": "SGD", "value": 700},
      "quantityRule": {"min": 0, "max": 1},
      "subProducts": ["g2"]
    },
    {
      "posProductId": "g2",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "ice",
      "quantityRule": {"min": 0, "max": 1},
      "subProducts": ["p5", "p6"]
    },
    {
      "posProductId": "p5",
      "type": "MODIFIER",
      "status": "AVAILABLE",
      "name": "with ice",
      "price": {"currency": "SGD", "value": 0},
      "quantityRule": {"min": 0, "max": 1}
    },
    {
      "posProductId": "p6",
      "type": "MODIFIER",
      "status": "AVAILABLE",
      "name": "without ice",
      "price": {"currency": "SGD", "value": 0},
      "quantityRule": {"min": 0, "max": 1}
    }
  ]
}'''),
    "variant": ("Variant product", r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1",
    "name": "s1-name"
  },
  "products": [
    {
      "posProductId": "p1",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "coffee",
      "price": {"currency": "SGD", "value": 0},
      "subProducts": ["g1"]
    },
    {
      "posProductId": "g1",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "size",
      "quantityRule": {"min": 1, "max": 1},
      "subProducts": ["p1-1", "p1-2", "p1-3"]
    },
    {
      "posProductId": "p1-1",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "short",
      "price": {"currency": "SGD", "value": 500},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g1"],
          "quantityRule": {"min": 0, "max": 1}
        }
      ],
      "subProducts": ["g2"]
    },
    {
      "posProductId": "p1-2",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "tall",
      "price": {"currency": "SGD", "value": 700},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g1"],
          "quantityRule": {"min": 0, "max": 1}
        }
      ],
      "subProducts": ["g2"]
    },
    {
      "posProductId": "p1-3",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "grande",
      "price": {"currency": "SGD", "value": 900},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g1"],
          "quantityRule": {"min": 0, "max": 1}
        }
      ],
      "subProducts": ["g2"]
    },
    {
      "posProductId": "g2",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "ice",
      "quantityRule": {"min": 0, "max": 1},
      "subProducts": ["p5", "p6"]
    },
    {
      "posProductId": "p5",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "with ice",
      "price": {"currency": "SGD", "value": 0},
      "quantityRule": {"min": 0, "max": 1}
    },
    {
      "posProductId": "p6",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "without ice",
      "price": {"currency": "SGD", "value": 0},
      "quantityRule": {"min": 0, "max": 1}
    }
  ]
}'''),
    "combo": ("Combo meal", r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1",
    "name": "s1-name"
  },
  "products": [
    {
      "posProductId": "p1",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "burger set meal",
      "price": {"currency": "SGD", "value": 2000},
      "subProducts": ["g1", "g2"]
    },
    {
      "posProductId": "g1",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "burger",
      "quantityRule": {"min": 1, "max": 2},
      "subProducts": ["p2", "p3"]
    },
    {
      "posProductId": "p2",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "chicken burger",
      "price": {"currency": "SGD", "value": 1000},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g1"],
          "price": {"currency": "SGD", "value": 0},
          "quantityRule": {"min": 1, "max": 2}
        }
      ]
    },
    {
      "posProductId": "p3",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "cheese burger",
      "price": {"currency": "SGD", "value": 1500},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g1"],
          "price": {"currency": "SGD", "value": 500},
          "quantityRule": {"min": 0, "max": 1}
        }
      ]
    },
    {
      "posProductId": "g2",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "beverage",
      "quantityRule": {"min": 0, "max": 1},
      "subProducts": ["p4", "p5"]
    },
    {
      "posProductId": "p4",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "cola",
      "price": {"currency": "SGD", "value": 1500},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g2"],
          "price": {"currency": "SGD", "value": 0},
          "quantityRule": {"min": 0, "max": 1}
        }
      ]
    },
    {
      "posProductId": "p5",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "blank tea",
      "price": {"currency": "SGD", "value": 2000},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g2"],
          "price": {"currency": "SGD", "value": 500},
          "quantityRule": {"min": 0, "max": 1}
        }
      ]
    }
  ]
}'''),
    "bundle": ("Bundle", r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1",
    "name": "s1-name"
  },
  "products": [
    {
      "posProductId": "p1",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "two cups of coffee",
      "price": {"currency": "SGD", "value": 1500},
      "subProducts": ["g1"]
    },
    {
      "posProductId": "g1",
      "type": "GROUP",
      "status": "AVAILABLE",
      "name": "beverage",
      "quantityRule": {"min": 2, "max": 2},
      "subProducts": ["p2"]
    },
    {
      "posProductId": "p2",
      "type": "SINGLE",
      "status": "AVAILABLE",
      "name": "coffee",
      "price": {"currency": "SGD", "value": 1000},
      "quantityRule": {"min": 0, "max": 1000},
      "overloads": [
        {
          "posProductIds": ["g1"],
          "price": {"currency": "SGD", "value": 0},
          "quantityRule": {"min": 2, "max": 2}
        }
      ]
    }
  ]
}'''),
}

# "Update product status", single items.
STATUS_SINGLE_ITEMS_TEXT = r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1"
  },
  "products": [
    {
      "posProductId": "p1",
      "status": "SOLDOUT"
    }
  ]
}'''

# "Update product status", modifiers: printed with store.name, a trailing comma and no
# closing brace.
STATUS_MODIFIERS_TEXT = r'''{
  "requestId":"20231220bsefibb334",
  "posAccountId": "bk001",
  "store": {
    "posStoreId": "s1",
    "name": "s1-name"
  },
  "products": [
    {
      "posProductId": "M1",
      "status": "SOLDOUT",
    }
  ]

'''

# "Sample codes", full sync: the request body, its signature (made with the sandbox key,
# which the document does not give), and the two curl calls.
SAMPLE_BODY = r'''{"requestId":"20231220bsefibb334","posAccountId":"bk001","store":{"posStoreId":"s1","name":"s1-name"},"products":[{"posProductId":"p1","type":"SINGLE","status":"AVAILABLE","name":"green tea","price":{"currency":"SGD","value":1000}}]}'''.encode("utf-8")
SAMPLE_SIGNATURE = r'''EVCRST9tbtIaCqYvozPbVhi7d0D5rfdIHUUh6fIjx7nf9%2FeCbkRFrxoCOzzp3ac%2FcMhQnxtmvYZFOQDLAmhzUjhB68Z3bMm0O03wqPExowRlDHGFPWJL8bmgUQMGyblViAfCaSjCcpCa1C%2Fk6A6CCaAAh9MRMNQZ8X36lS5f64Db07IIKIJ53aqDl40y4MNUcJiY3nDmOZeVxATUubKc8HnZgm2IkgxEOqRpodP%2FWAyZq8iHR4rID%2B4xeQDGdPTlRg3Z3G15lebb38yuukgcYE337rYjMgENTDol3rWz1ZTMJ5pwPxWkT5rlqE%2FG55tyDf6dfy%2BxK3bt9JLvL3bb8A%3D%3D'''
SAMPLE_CURL = r"""curl --location 'https://open-region-pre.alipayplus.com/v2/pos/syncProduct' \
--header 'content-type: application/json' \
--header 'client-id: 375Y903U2Y45KE00600' \
--header 'request-time: 2022-10-10T23:00:56+08:00' \
--header 'signature: algorithm=RSA256,keyVersion=1,signature=EVCRST9tbtIaCqYvozPbVhi7d0D5rfdIHUUh6fIjx7nf9%2FeCbkRFrxoCOzzp3ac%2FcMhQnxtmvYZFOQDLAmhzUjhB68Z3bMm0O03wqPExowRlDHGFPWJL8bmgUQMGyblViAfCaSjCcpCa1C%2Fk6A6CCaAAh9MRMNQZ8X36lS5f64Db07IIKIJ53aqDl40y4MNUcJiY3nDmOZeVxATUubKc8HnZgm2IkgxEOqRpodP%2FWAyZq8iHR4rID%2B4xeQDGdPTlRg3Z3G15lebb38yuukgcYE337rYjMgENTDol3rWz1ZTMJ5pwPxWkT5rlqE%2FG55tyDf6dfy%2BxK3bt9JLvL3bb8A%3D%3D' \
--data '{"requestId":"20231220bsefibb334","posAccountId":"bk001","store":{"posStoreId":"s1","name":"s1-name"},"products":[{"posProductId":"p1","type":"SINGLE","status":"AVAILABLE","name":"green tea","price":{"currency":"SGD","value":1000}}]}'"""
CUSTOM_CURL = r"""curl --location 'https://open-region-pre.alipayplus.com/v2/pds/store/syncProduct' \
--header 'content-type: application/json' \
--header 'client-id: 375Y903U2Y45KE00600' \
--header 'request-time: 2022-10-10T23:00:56+08:00' \
--header 'signature: algorithm=RSA256,keyVersion=1,signature=<generatedSignature>' \
--data '<requestBody>'"""
# "If the API call succeeds, the syncProduct response body is returned as" (sic: a failure).
RESPONSE_PARAM_ILLEGAL = r'''{"result":{"resultCode":"PARAM_ILLEGAL","resultMessage":"Illegal parameters. For example, non-numeric input, invalid date.","resultStatus":"F"}}'''.encode("utf-8")

# "Sample codes", update product status: the request body and the success response.
STATUS_SAMPLE_TEXT = r'''{
    "requestId":"20231220bsefibb334",
    "posAccountId":"bk001",
    "store":{
        "posStoreId":"s1"
    },
    "products":[
        {
            "posProductId":"p1",
            "status":"AVAILABLE"
        }
    ]
}'''
RESPONSE_SUCCESS_TEXT = r'''{
  "result": {
    "resultCode": "SUCCESS",
    "resultMessage": "success",
    "resultStatus": "S"
  }
}'''


def ordered(text: str | bytes) -> Any:
    """JSON with the order of every object's keys kept (objects become lists of pairs),
    for comparing bodies whose whitespace differs but whose content and order must not."""
    return json.loads(text, object_pairs_hook=list)


def full_sync_document(name: str) -> dict[str, Any]:
    return json.loads(FULL_SYNC_TEXTS[name][1])


# The product lists of the six full-sync examples.
DOCUMENT_EXAMPLES = {name: full_sync_document(name)["products"] for name in FULL_SYNC_TEXTS}
